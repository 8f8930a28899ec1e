

xPlaceholder*
dtype0

mine
MyCustomOpx

yRelumine"í