//! `echo`: the smallest runtime. It serves `ECHO /echo` by sending the input back, along with
//! who called and for whom.
//!
//! Point it at a daemon whose `ECHO /echo` endpoint is served by the `default` pool:
//!
//! ```text
//! cargo run -p mod-rust --example echo -- --gateway-socket /run/agtpd/gateway.sock
//! ```
//!
//! It stops on SIGTERM or Ctrl-C after finishing the calls in flight, and exits 1 when the
//! daemon pushes an endpoint it has no handler for.

use mod_rust::{Context, HandlerError, Json, Runtime};
use serde_json::{json, Value};

async fn echo(ctx: Context, input: Value) -> Result<Json<Value>, HandlerError> {
    Ok(Json(json!({
        "echo": input,
        "agent_id": ctx.agent_id(),
        "principal_id": ctx.principal_id(),
    })))
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let app = Runtime::new("echo")
        .version(env!("CARGO_PKG_VERSION"))
        .handler("ECHO", "/echo", echo);
    if let Err(err) = mod_rust::serve(app).await {
        eprintln!("echo: {err}");
        std::process::exit(1);
    }
}
