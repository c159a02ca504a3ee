module agtpd.example/samples/booking

go 1.19
