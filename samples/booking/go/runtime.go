// Starts the booking service of handlers.go on the Go SDK in sdk/go. The SDK reads
// AGTP_GATEWAY_SOCKET (or --gateway-socket PATH), AGTP_POOL, AGTP_CONNECTIONS and
// AGTP_MAX_IN_FLIGHT:
//
//	go build -o booking . && AGTP_GATEWAY_SOCKET=/tmp/agtpd-booking.sock ./booking
package main

func main() {
	newApp().Run()
}
