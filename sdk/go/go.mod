module agtpd.dev/agtp

go 1.19
