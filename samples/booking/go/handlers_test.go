package main

import (
	"testing"

	"agtpd.dev/agtp/agtptest"
)

func TestBookingService(t *testing.T) {
	d, err := agtptest.Start(newApp(), agtptest.Options{Endpoints: []agtptest.Endpoint{
		{Method: "BOOK", Path: "/rooms/{room_id}", HandlerReference: "booking.book_room", Errors: []string{"room_unavailable", "invalid_dates"}},
		{Method: "FETCH", Path: "/bookings/{booking_id}", HandlerReference: "booking.fetch_booking", Errors: []string{"booking_not_found"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	stay := map[string]any{"guest_name": "Ada", "check_in": "2031-05-01", "check_out": "2031-05-04"}

	r, err := d.Call("BOOK", "/rooms/101", stay, nil)
	if err != nil || r.Status != 200 {
		t.Fatalf("booking: %v %+v", err, r)
	}
	var booked struct {
		BookingID string `json:"booking_id"`
	}
	r.Decode(&booked)

	if r, _ := d.Call("BOOK", "/rooms/101", stay, nil); r.Status != 422 || r.Error.Code != "room_unavailable" {
		t.Errorf("booking a taken room: %d %+v", r.Status, r.Error)
	}
	if r, _ := d.Call("FETCH", "/bookings/"+booked.BookingID, nil, nil); r.Status != 200 {
		t.Errorf("fetching %s: %d %+v", booked.BookingID, r.Status, r.Error)
	}
	if r, _ := d.Call("FETCH", "/bookings/__raise__", nil, nil); r.Status != 500 || r.Error.Code != "handler-exception" {
		t.Errorf("the conformance failure: %d %+v", r.Status, r.Error)
	}
}
