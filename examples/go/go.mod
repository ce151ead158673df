module example.com/okrhub

go 1.19
