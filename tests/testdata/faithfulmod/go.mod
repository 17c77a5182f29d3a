module example.com/faithfulmod

go 1.22
