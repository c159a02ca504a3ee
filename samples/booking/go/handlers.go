// The room-booking service: one function per endpoint of samples/booking/endpoints.
//
// A handler decodes the request's input (already valid against the endpoint's input schema:
// path parameters such as `room_id` are in it) and returns the response body: a value that
// encodes to an object with every `[[endpoint.output]]` field of the endpoint. To answer with
// a declared error, return an *agtp.EndpointError; any other error becomes
// `handler_exception`.
//
// The store is in memory, so bookings last as long as the process.
package main

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"agtpd.dev/agtp"
)

func newApp() *agtp.Runtime {
	app := agtp.NewRuntime(agtp.Info{Name: "booking-go", Version: "0.2.0"})
	app.Handle("booking.query_availability", queryAvailability)
	app.Handle("booking.book_room", bookRoom)
	app.Handle("booking.fetch_booking", fetchBooking)
	app.Handle("booking.cancel_booking", cancelBooking)
	app.Handle("booking.occupancy_outlook", occupancyOutlook)
	return app
}

type room struct {
	capacity    int
	nightlyRate float64
}

var rooms = map[string]room{
	"101": {capacity: 2, nightlyRate: 120.0},
	"102": {capacity: 2, nightlyRate: 135.0},
	"201": {capacity: 4, nightlyRate: 210.0},
	"301": {capacity: 6, nightlyRate: 480.0},
}

type booking struct {
	BookingID string `json:"booking_id"`
	RoomID    string `json:"room_id"`
	GuestName string `json:"guest_name"`
	CheckIn   string `json:"check_in"`
	CheckOut  string `json:"check_out"`
	Status    string `json:"status"`
}

// The store; handlers run on several goroutines at once.
var (
	storeMu  sync.Mutex
	bookings = map[string]*booking{}
	nextID   = 1
)

type availableRoom struct {
	RoomID      string  `json:"room_id"`
	NightlyRate float64 `json:"nightly_rate"`
}

func queryAvailability(ctx context.Context, req *agtp.Request) (any, error) {
	var in struct {
		CheckIn  string `json:"check_in"`
		CheckOut string `json:"check_out"`
		Guests   int    `json:"guests"`
	}
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	checkIn, checkOut, err := stay(in.CheckIn, in.CheckOut)
	if err != nil {
		return nil, err
	}
	if in.Guests == 0 {
		in.Guests = 1
	}
	storeMu.Lock()
	defer storeMu.Unlock()
	free := []availableRoom{}
	for id, r := range rooms {
		if r.capacity >= in.Guests && isFree(id, checkIn, checkOut) {
			free = append(free, availableRoom{id, r.nightlyRate})
		}
	}
	sort.Slice(free, func(i, j int) bool { return free[i].NightlyRate < free[j].NightlyRate })
	return map[string]any{"rooms": free}, nil
}

func bookRoom(ctx context.Context, req *agtp.Request) (any, error) {
	var in struct {
		RoomID    string `json:"room_id"`
		GuestName string `json:"guest_name"`
		CheckIn   string `json:"check_in"`
		CheckOut  string `json:"check_out"`
	}
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	checkIn, checkOut, err := stay(in.CheckIn, in.CheckOut)
	if err != nil {
		return nil, err
	}
	storeMu.Lock()
	defer storeMu.Unlock()
	if _, ok := rooms[in.RoomID]; !ok {
		return nil, &agtp.EndpointError{Code: "room_unavailable", Message: "there is no room " + in.RoomID}
	}
	if !isFree(in.RoomID, checkIn, checkOut) {
		return nil, &agtp.EndpointError{Code: "room_unavailable", Message: fmt.Sprintf("room %s is taken for those dates", in.RoomID)}
	}
	id := fmt.Sprintf("bk-%04d", nextID)
	nextID++
	bookings[id] = &booking{id, in.RoomID, in.GuestName, in.CheckIn, in.CheckOut, "confirmed"}
	return map[string]string{"booking_id": id, "status": "confirmed"}, nil
}

func fetchBooking(ctx context.Context, req *agtp.Request) (any, error) {
	var in struct {
		BookingID string `json:"booking_id"`
	}
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if in.BookingID == "__raise__" {
		// The conformance convention (samples/booking/README.md): this id makes the handler
		// fail unexpectedly, so `agtpd conformance` can watch the runtime report it.
		panic("conformance: `__raise__` asks this handler to fail")
	}
	storeMu.Lock()
	defer storeMu.Unlock()
	b, ok := bookings[in.BookingID]
	if !ok {
		return nil, &agtp.EndpointError{Code: "booking_not_found", Message: "no booking " + in.BookingID}
	}
	copied := *b
	return &copied, nil
}

func cancelBooking(ctx context.Context, req *agtp.Request) (any, error) {
	var in struct {
		BookingID string `json:"booking_id"`
	}
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	storeMu.Lock()
	defer storeMu.Unlock()
	b, ok := bookings[in.BookingID]
	if !ok {
		return nil, &agtp.EndpointError{Code: "booking_not_found", Message: "no booking " + in.BookingID}
	}
	b.Status = "cancelled" // cancelling twice leaves it cancelled
	return map[string]string{"booking_id": b.BookingID, "status": "cancelled"}, nil
}

type dayOutlook struct {
	Date      string  `json:"date"`
	Occupancy float64 `json:"occupancy"`
}

func occupancyOutlook(ctx context.Context, req *agtp.Request) (any, error) {
	var in struct {
		Days int `json:"days"`
	}
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if in.Days == 0 {
		in.Days = 7
	}
	// Slow on purpose: the endpoint's timeout is 2 s, so the daemon answers the agent
	// 504 handler-timeout. Unlike a sleep, this wait ends when the deadline does.
	select {
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	today := time.Now().UTC().Truncate(24 * time.Hour)
	storeMu.Lock()
	defer storeMu.Unlock()
	outlook := make([]dayOutlook, in.Days)
	for n := range outlook {
		day := today.AddDate(0, 0, n)
		taken := 0
		for id := range rooms {
			if !isFree(id, day, day.AddDate(0, 0, 1)) {
				taken++
			}
		}
		outlook[n] = dayOutlook{day.Format(dateLayout), float64(taken) / float64(len(rooms))}
	}
	return map[string]any{"outlook": outlook}, nil
}

const dateLayout = "2006-01-02"

// stay parses the stay's two dates; `invalid_dates` unless check-out comes after check-in.
func stay(checkIn, checkOut string) (time.Time, time.Time, error) {
	in, err := time.Parse(dateLayout, checkIn)
	if err != nil {
		return in, in, &agtp.EndpointError{Code: "invalid_dates", Message: "not a date: " + checkIn}
	}
	out, err := time.Parse(dateLayout, checkOut)
	if err != nil {
		return in, out, &agtp.EndpointError{Code: "invalid_dates", Message: "not a date: " + checkOut}
	}
	if !out.After(in) {
		return in, out, &agtp.EndpointError{Code: "invalid_dates", Message: "check_out must come after check_in",
			Details: map[string]any{"check_in": checkIn, "check_out": checkOut}}
	}
	return in, out, nil
}

// isFree: no confirmed booking of the room overlaps [checkIn, checkOut). Hold storeMu.
func isFree(roomID string, checkIn, checkOut time.Time) bool {
	for _, b := range bookings {
		in, _ := time.Parse(dateLayout, b.CheckIn)
		out, _ := time.Parse(dateLayout, b.CheckOut)
		if b.RoomID == roomID && b.Status == "confirmed" && in.Before(checkOut) && checkIn.Before(out) {
			return false
		}
	}
	return true
}
