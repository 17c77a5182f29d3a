module example.com/actionmod

go 1.22
