//! `agtp URI [METHOD] [PATH]`: one request, its response on stdout, the exit code from
//! its status.

use std::io::{IsTerminal, Write};

use agtp_core::client::{Client, ClientError};

use super::cli::CallArgs;
use super::exit::Exit;
use super::{output, request};

/// Sends the request and prints the answer.
pub(crate) fn run(args: CallArgs) -> Exit {
    let prepared = request::build(&args.target, args.data.as_deref()).and_then(|(uri, req)| {
        let config = request::client_config(&args.tls, args.timeout)?;
        Ok((request::origin(&uri, &args.tls), req, config))
    });
    let (origin, request, config) = match prepared {
        Ok(prepared) => prepared,
        Err(failure) => return failure.report(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("agtp: cannot start the async runtime: {error}");
            return Exit::Software;
        }
    };
    let client = Client::new(config);
    let plaintext = !origin.is_tls();
    match runtime.block_on(client.send(&origin, &request)) {
        Ok(response) => {
            let mut out = Vec::new();
            if args.include {
                out.extend_from_slice(output::head(&response).as_bytes());
            }
            let stdout = std::io::stdout();
            if stdout.is_terminal() {
                out.extend(output::body_for_terminal(&response.body));
            } else {
                out.extend_from_slice(&response.body);
            }
            let mut stdout = stdout.lock();
            // A closed pipe (`agtp ... | head -c1`) is not agtp's failure.
            let _ = stdout.write_all(&out).and_then(|()| stdout.flush());
            Exit::for_status(response.status)
        }
        Err(error) => {
            let hint = hint(&error, plaintext);
            eprintln!("agtp: {error}{hint}");
            Exit::for_error(error.kind())
        }
    }
}

/// A plaintext client talking to a TLS listener sees the connection closed unanswered
/// (or answered with a TLS alert, which is not AGTP either).
fn hint(error: &ClientError, plaintext: bool) -> &'static str {
    match error {
        ClientError::Closed { .. } if plaintext => {
            " (the request went out in plaintext; if the server speaks TLS, add --tls)"
        }
        _ => "",
    }
}
