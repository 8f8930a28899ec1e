

xPlaceholder*
dtype0
A
dbgDebugIdentityx*(

debug_urls
file:///tmp/tfdbg_dump"í