"""The room-booking service: one handler per endpoint of samples/booking/endpoints, on the
Python SDK in sdk/python. `runtime.py` beside this file starts it.

A handler takes the call's input (a dict, already valid against the endpoint's input schema:
path parameters such as `room_id` are in it) and a `Context`, and returns the response body:
a dict with every `[[endpoint.output]]` field of the endpoint. To answer with a declared
error, raise `EndpointError(code, message)`; anything else raised becomes `handler_exception`.

The handlers are `async def`, so they all run on the event loop, one step at a time: the
store needs no lock. It is in memory, so bookings last as long as the process.
"""

import asyncio
import datetime
import itertools

from agtp_runtime import EndpointError, Runtime

app = Runtime(name="booking-python", version="0.2.0")

ROOMS = {
    "101": {"capacity": 2, "nightly_rate": 120.0},
    "102": {"capacity": 2, "nightly_rate": 135.0},
    "201": {"capacity": 4, "nightly_rate": 210.0},
    "301": {"capacity": 6, "nightly_rate": 480.0},
}
bookings = {}  # booking_id -> booking
next_number = itertools.count(1)


@app.handler("booking.query_availability")
async def query_availability(params, ctx):
    check_in, check_out = stay(params)
    guests = params.get("guests", 1)
    free = [room_id for room_id, room in ROOMS.items()
            if room["capacity"] >= guests and is_free(room_id, check_in, check_out)]
    rooms = [{"room_id": r, "nightly_rate": ROOMS[r]["nightly_rate"]} for r in free]
    return {"rooms": sorted(rooms, key=lambda room: room["nightly_rate"])}


@app.handler("booking.book_room")
async def book_room(params, ctx):
    check_in, check_out = stay(params)
    room_id = params["room_id"]
    if room_id not in ROOMS:
        raise EndpointError("room_unavailable", f"there is no room {room_id}")
    if not is_free(room_id, check_in, check_out):
        raise EndpointError("room_unavailable", f"room {room_id} is taken for those dates")
    booking_id = f"bk-{next(next_number):04d}"
    bookings[booking_id] = {
        "booking_id": booking_id,
        "room_id": room_id,
        "guest_name": params["guest_name"],
        "check_in": check_in.isoformat(),
        "check_out": check_out.isoformat(),
        "status": "confirmed",
    }
    return {"booking_id": booking_id, "status": "confirmed"}


@app.handler("booking.fetch_booking")
async def fetch_booking(params, ctx):
    booking_id = params["booking_id"]
    if booking_id == "__raise__":
        # The conformance convention (samples/booking/README.md): this id makes the handler
        # fail unexpectedly, so `agtpd conformance` can watch the runtime report it.
        raise RuntimeError("conformance: `__raise__` asks this handler to fail")
    booking = bookings.get(booking_id)
    if booking is None:
        raise EndpointError("booking_not_found", f"no booking {booking_id}")
    return dict(booking)


@app.handler("booking.cancel_booking")
async def cancel_booking(params, ctx):
    booking_id = params["booking_id"]
    booking = bookings.get(booking_id)
    if booking is None:
        raise EndpointError("booking_not_found", f"no booking {booking_id}")
    booking["status"] = "cancelled"  # cancelling twice leaves it cancelled
    return {"booking_id": booking_id, "status": "cancelled"}


@app.handler("booking.occupancy_outlook")
async def occupancy_outlook(params, ctx):
    # Slow on purpose: the endpoint's timeout is 2 s, so the daemon answers the agent
    # 504 handler-timeout; the SDK cancels this task at the deadline.
    await asyncio.sleep(5)
    today = datetime.date.today()
    days = [today + datetime.timedelta(days=n) for n in range(params.get("days", 7))]
    outlook = [{"date": day.isoformat(),
                "occupancy": sum(not is_free(r, day, day + datetime.timedelta(days=1))
                                 for r in ROOMS) / len(ROOMS)}
               for day in days]
    return {"outlook": outlook}


def stay(params):
    """The stay's two dates; `invalid_dates` unless check-out comes after check-in."""
    try:
        check_in = datetime.date.fromisoformat(params["check_in"])
        check_out = datetime.date.fromisoformat(params["check_out"])
    except ValueError as error:
        raise EndpointError("invalid_dates", f"not a date: {error}") from None
    if check_out <= check_in:
        raise EndpointError("invalid_dates", "check_out must come after check_in",
                            {"check_in": params["check_in"], "check_out": params["check_out"]})
    return check_in, check_out


def is_free(room_id, check_in, check_out):
    """Whether no confirmed booking of the room overlaps [check_in, check_out)."""
    return not any(b["room_id"] == room_id and b["status"] == "confirmed"
                   and datetime.date.fromisoformat(b["check_in"]) < check_out
                   and check_in < datetime.date.fromisoformat(b["check_out"])
                   for b in bookings.values())
