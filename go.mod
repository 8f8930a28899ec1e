module github.com/modelgate/modelgate

go 1.26.8

require github.com/ulikunitz/xz v0.5.17
