

xPlaceholder*
dtype0
$
pyPyFuncx*
token
pyfunc_0"í