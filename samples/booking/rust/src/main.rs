//! The room-booking sample runtime in Rust, on `mod-rust`: the same service as the
//! Python, Node.js and Go samples (one handler per file of `samples/booking/endpoints`),
//! with an in-memory store.
//!
//! ```text
//! cargo run --release -p booking-rust -- --gateway-socket /run/agtpd/gateway.sock
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mod_rust::{Context, HandlerError, Json, Runtime};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use time::{macros::format_description, Date};

/// Rooms: id, capacity, nightly rate.
const ROOMS: &[(&str, u32, f64)] = &[
    ("101", 2, 120.0),
    ("102", 2, 135.0),
    ("201", 4, 210.0),
    ("301", 6, 480.0),
];

#[derive(Clone, Serialize)]
struct Booking {
    booking_id: String,
    room_id: String,
    guest_name: String,
    check_in: String,
    check_out: String,
    status: &'static str,
}

#[derive(Default)]
struct Store {
    bookings: HashMap<String, Booking>,
    next: u32,
}

type Shared = Arc<Mutex<Store>>;

#[derive(Deserialize)]
struct Stay {
    check_in: String,
    check_out: String,
    guests: Option<u32>,
}

#[derive(Deserialize)]
struct BookInput {
    room_id: String,
    guest_name: String,
    check_in: String,
    check_out: String,
}

#[derive(Deserialize)]
struct ById {
    booking_id: String,
}

fn stay(check_in: &str, check_out: &str) -> Result<(Date, Date), HandlerError> {
    let format = format_description!("[year]-[month]-[day]");
    let parse = |text: &str| {
        Date::parse(text, format).map_err(|e| {
            HandlerError::declared("invalid_dates", format!("not a date: {text}: {e}"))
        })
    };
    let (from, to) = (parse(check_in)?, parse(check_out)?);
    if to <= from {
        return Err(HandlerError::declared(
            "invalid_dates",
            "check_out must come after check_in",
        ));
    }
    Ok((from, to))
}

fn is_free(store: &Store, room: &str, from: Date, to: Date) -> bool {
    let format = format_description!("[year]-[month]-[day]");
    !store.bookings.values().any(|b| {
        let (Ok(b_from), Ok(b_to)) = (
            Date::parse(&b.check_in, format),
            Date::parse(&b.check_out, format),
        ) else {
            return false;
        };
        b.room_id == room && b.status == "confirmed" && b_from < to && from < b_to
    })
}

fn lock(store: &Shared) -> std::sync::MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Binds `handler` to the shared store: the closure `Runtime::handler` takes.
fn with_store<I, Fut>(
    store: &Shared,
    handler: fn(Shared, I) -> Fut,
) -> impl Fn(Context, I) -> Fut + Clone + Send + Sync + 'static
where
    I: 'static,
    Fut: 'static,
{
    let store = store.clone();
    move |_: Context, input: I| handler(store.clone(), input)
}

async fn availability(store: Shared, input: Stay) -> Result<Json<Value>, HandlerError> {
    let (from, to) = stay(&input.check_in, &input.check_out)?;
    let guests = input.guests.unwrap_or(1);
    let store = lock(&store);
    let mut rooms: Vec<(&str, f64)> = ROOMS
        .iter()
        .filter(|(id, capacity, _)| *capacity >= guests && is_free(&store, id, from, to))
        .map(|(id, _, rate)| (*id, *rate))
        .collect();
    rooms.sort_by(|a, b| a.1.total_cmp(&b.1));
    let rooms: Vec<Value> = rooms
        .iter()
        .map(|(id, rate)| json!({"room_id": id, "nightly_rate": rate}))
        .collect();
    Ok(Json(json!({ "rooms": rooms })))
}

async fn book(store: Shared, input: BookInput) -> Result<Json<Value>, HandlerError> {
    let (from, to) = stay(&input.check_in, &input.check_out)?;
    let mut store = lock(&store);
    if !ROOMS.iter().any(|(id, _, _)| *id == input.room_id) {
        return Err(HandlerError::declared(
            "room_unavailable",
            format!("there is no room {}", input.room_id),
        ));
    }
    if !is_free(&store, &input.room_id, from, to) {
        return Err(HandlerError::declared(
            "room_unavailable",
            "the room is taken for those dates",
        ));
    }
    store.next += 1;
    let booking_id = format!("bk-{:04}", store.next);
    let booking = Booking {
        booking_id: booking_id.clone(),
        room_id: input.room_id,
        guest_name: input.guest_name,
        check_in: input.check_in,
        check_out: input.check_out,
        status: "confirmed",
    };
    store.bookings.insert(booking_id.clone(), booking);
    Ok(Json(
        json!({"booking_id": booking_id, "status": "confirmed"}),
    ))
}

fn not_found(booking_id: &str) -> HandlerError {
    HandlerError::declared("booking_not_found", format!("no booking {booking_id}"))
}

async fn fetch(store: Shared, input: ById) -> Result<Json<Booking>, HandlerError> {
    if input.booking_id == "__raise__" {
        // The conformance convention (samples/booking/README.md).
        return Err(HandlerError::exception(
            "conformance: `__raise__` asks this handler to fail",
        ));
    }
    let store = lock(&store);
    let booking = store.bookings.get(&input.booking_id);
    booking
        .cloned()
        .map(Json)
        .ok_or_else(|| not_found(&input.booking_id))
}

async fn cancel(store: Shared, input: ById) -> Result<Json<Value>, HandlerError> {
    let mut store = lock(&store);
    let booking = store.bookings.get_mut(&input.booking_id);
    let booking = booking.ok_or_else(|| not_found(&input.booking_id))?;
    booking.status = "cancelled";
    Ok(Json(
        json!({"booking_id": input.booking_id, "status": "cancelled"}),
    ))
}

async fn occupancy_outlook(_: Shared, _: Value) -> Result<Json<Value>, HandlerError> {
    // Slow on purpose: past the endpoint's 2 s timeout, so agents get 504.
    tokio::time::sleep(Duration::from_secs(5)).await;
    Ok(Json(json!({ "outlook": [] })))
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let store: Shared = Arc::default();
    let app = Runtime::new("booking-rust")
        .version(env!("CARGO_PKG_VERSION"))
        .handler(
            "QUERY",
            "/rooms/availability",
            with_store(&store, availability),
        )
        .handler("BOOK", "/rooms/{room_id}", with_store(&store, book))
        .handler("FETCH", "/bookings/{booking_id}", with_store(&store, fetch))
        .handler(
            "CANCEL",
            "/bookings/{booking_id}",
            with_store(&store, cancel),
        )
        .handler(
            "QUERY",
            "/rooms/occupancy-outlook",
            with_store(&store, occupancy_outlook),
        );
    if let Err(error) = mod_rust::serve(app).await {
        eprintln!("booking-rust: {error}");
        std::process::exit(1);
    }
}
