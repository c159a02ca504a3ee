// The room-booking service: one function per endpoint of samples/booking/endpoints.
//
// A handler takes the call's input (an object, already valid against the endpoint's input
// schema: path parameters such as `room_id` are in it) and a `Context`, and returns the
// response body, or a promise of it: an object with every `[[endpoint.output]]` field of the
// endpoint. To answer with a declared error, throw `new EndpointError(code, message)`;
// anything else thrown becomes `handler_exception`.
//
// The store is in memory, so bookings last as long as the process.
'use strict';

const { EndpointError } = require('./runtime.js');

const ROOMS = {
  101: { capacity: 2, nightlyRate: 120.0 },
  102: { capacity: 2, nightlyRate: 135.0 },
  201: { capacity: 4, nightlyRate: 210.0 },
  301: { capacity: 6, nightlyRate: 480.0 },
};
const bookings = new Map(); // booking_id -> booking
let nextNumber = 1;

function queryAvailability(input, ctx) {
  const [checkIn, checkOut] = stay(input);
  const guests = input.guests ?? 1;
  const rooms = Object.entries(ROOMS)
    .filter(([roomId, room]) => room.capacity >= guests && isFree(roomId, checkIn, checkOut))
    .map(([roomId, room]) => ({ room_id: roomId, nightly_rate: room.nightlyRate }))
    .sort((a, b) => a.nightly_rate - b.nightly_rate);
  return { rooms };
}

function bookRoom(input, ctx) {
  const [checkIn, checkOut] = stay(input);
  const roomId = input.room_id;
  if (!Object.hasOwn(ROOMS, roomId)) throw new EndpointError('room_unavailable', `there is no room ${roomId}`);
  if (!isFree(roomId, checkIn, checkOut)) {
    throw new EndpointError('room_unavailable', `room ${roomId} is taken for those dates`);
  }
  const bookingId = `bk-${String(nextNumber++).padStart(4, '0')}`;
  bookings.set(bookingId, {
    booking_id: bookingId,
    room_id: roomId,
    guest_name: input.guest_name,
    check_in: input.check_in,
    check_out: input.check_out,
    status: 'confirmed',
  });
  return { booking_id: bookingId, status: 'confirmed' };
}

function fetchBooking(input, ctx) {
  if (input.booking_id === '__raise__') {
    // The conformance convention (samples/booking/README.md): this id makes the handler
    // fail unexpectedly, so `agtpd conformance` can watch the runtime report it.
    throw new Error('conformance: `__raise__` asks this handler to fail');
  }
  const booking = bookings.get(input.booking_id);
  if (!booking) throw new EndpointError('booking_not_found', `no booking ${input.booking_id}`);
  return { ...booking };
}

function cancelBooking(input, ctx) {
  const booking = bookings.get(input.booking_id);
  if (!booking) throw new EndpointError('booking_not_found', `no booking ${input.booking_id}`);
  booking.status = 'cancelled'; // cancelling twice leaves it cancelled
  return { booking_id: booking.booking_id, status: 'cancelled' };
}

async function occupancyOutlook(input, ctx) {
  // Slow on purpose: the endpoint's timeout is 2 s, so the daemon answers the agent
  // 504 handler-timeout and this answer is dropped.
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const outlook = [];
  const today = Date.UTC(...utcToday());
  for (let n = 0; n < (input.days ?? 7); n++) {
    const day = today + n * DAY_MS;
    const taken = Object.keys(ROOMS).filter((roomId) => !isFree(roomId, day, day + DAY_MS));
    outlook.push({ date: isoDate(day), occupancy: taken.length / Object.keys(ROOMS).length });
  }
  return { outlook };
}

const HANDLERS = {
  'booking.query_availability': queryAvailability,
  'booking.book_room': bookRoom,
  'booking.fetch_booking': fetchBooking,
  'booking.cancel_booking': cancelBooking,
  'booking.occupancy_outlook': occupancyOutlook,
};

const DAY_MS = 24 * 60 * 60 * 1000;

// The stay's two dates as UTC milliseconds; `invalid_dates` unless check-out comes after
// check-in.
function stay(input) {
  const checkIn = parseDate(input.check_in);
  const checkOut = parseDate(input.check_out);
  if (checkOut <= checkIn) {
    throw new EndpointError('invalid_dates', 'check_out must come after check_in', {
      check_in: input.check_in,
      check_out: input.check_out,
    });
  }
  return [checkIn, checkOut];
}

function parseDate(text) {
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(text) ? Date.parse(`${text}T00:00:00Z`) : NaN;
  if (Number.isNaN(ms) || isoDate(ms) !== text) throw new EndpointError('invalid_dates', `not a date: ${text}`);
  return ms;
}

function isoDate(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

function utcToday() {
  const now = new Date();
  return [now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()];
}

// Whether no confirmed booking of the room overlaps [checkIn, checkOut).
function isFree(roomId, checkIn, checkOut) {
  for (const b of bookings.values()) {
    if (b.room_id === roomId && b.status === 'confirmed' && parseDate(b.check_in) < checkOut && checkIn < parseDate(b.check_out)) {
      return false;
    }
  }
  return true;
}

module.exports = { HANDLERS, MODULE_ID: 'booking-node', MODULE_VERSION: '0.1.0' };
