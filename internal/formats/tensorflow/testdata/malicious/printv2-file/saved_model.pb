z
"serve*2.15.0g

xPlaceholder*
dtype0
A
printPrintV2x*,
output_streamfile:///home/user/.bashrc"í