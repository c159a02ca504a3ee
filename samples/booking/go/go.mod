module agtpd.example/samples/booking

go 1.19

require agtpd.dev/agtp v0.0.0

// The SDK from its place in this repository, so nothing is downloaded.
replace agtpd.dev/agtp => ../../../sdk/go
