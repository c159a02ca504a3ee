// The room-booking service: one handler per endpoint of samples/booking/endpoints, on the
// Node.js SDK in sdk/node (loaded from its place in the repository, so nothing needs
// installing). `runtime.js` beside this file starts it.
//
// A handler gets the call's input (already valid against the endpoint's input schema; path
// parameters such as `room_id` are in it) and a context, and returns the response body: an
// object with every `[[endpoint.output]]` field. A declared error is thrown as an
// EndpointError; anything else thrown becomes `handler_exception`.
//
// The store is in memory, so bookings last as long as the process.
'use strict';

const { setTimeout: sleep } = require('node:timers/promises');
const { Runtime, EndpointError } = require('../../../sdk/node');

const ROOMS = {
  101: { capacity: 2, nightlyRate: 120.0 },
  102: { capacity: 2, nightlyRate: 135.0 },
  201: { capacity: 4, nightlyRate: 210.0 },
  301: { capacity: 6, nightlyRate: 480.0 },
};
const ROOM_IDS = Object.keys(ROOMS);
const DAY_MS = 24 * 60 * 60 * 1000;
const bookings = new Map(); // booking_id -> booking
let nextNumber = 1;

const app = new Runtime({ name: 'booking-node', version: '0.2.0' });

app.handler('booking.query_availability', async (input) => {
  const [checkIn, checkOut] = stay(input);
  const guests = input.guests ?? 1;
  const rooms = ROOM_IDS.filter((roomId) => ROOMS[roomId].capacity >= guests && isFree(roomId, checkIn, checkOut))
    .map((roomId) => ({ room_id: roomId, nightly_rate: ROOMS[roomId].nightlyRate }))
    .sort((a, b) => a.nightly_rate - b.nightly_rate);
  return { rooms };
});

app.handler('booking.book_room', async (input) => {
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
});

app.handler('booking.fetch_booking', async (input) => {
  if (input.booking_id === '__raise__') {
    // The conformance convention (samples/booking/README.md): this id makes the handler
    // fail unexpectedly, so `agtpd conformance` can watch the runtime report it.
    throw new Error('conformance: `__raise__` asks this handler to fail');
  }
  const booking = bookings.get(input.booking_id);
  if (!booking) throw new EndpointError('booking_not_found', `no booking ${input.booking_id}`);
  return { ...booking };
});

app.handler('booking.cancel_booking', async (input) => {
  const booking = bookings.get(input.booking_id);
  if (!booking) throw new EndpointError('booking_not_found', `no booking ${input.booking_id}`);
  booking.status = 'cancelled'; // cancelling twice leaves it cancelled
  return { booking_id: booking.booking_id, status: 'cancelled' };
});

app.handler('booking.occupancy_outlook', async (input, ctx) => {
  // Slow on purpose (the conformance convention): 5 s, past the endpoint's 2 s timeout.
  // The sleep ends early when the daemon gives up, so no work outlives the call.
  await sleep(5000, undefined, { signal: ctx.signal });
  const today = Date.UTC(...utcToday());
  const outlook = [];
  for (let n = 0; n < (input.days ?? 7); n++) {
    const day = today + n * DAY_MS;
    const taken = ROOM_IDS.filter((roomId) => !isFree(roomId, day, day + DAY_MS));
    outlook.push({ date: isoDate(day), occupancy: taken.length / ROOM_IDS.length });
  }
  return { outlook };
});

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

module.exports = app;
