module dllmbench

go 1.26.0
