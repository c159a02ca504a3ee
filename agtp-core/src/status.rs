//! AGTP status codes. AGTP reuses the HTTP classes and adds its own codes (261-263,
//! 451-460, 550-551); reason texts follow the AGTP draft where it names one.

use std::fmt;

/// A three-digit AGTP status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Status(u16);

macro_rules! statuses {
    ($($name:ident = $code:literal, $text:literal;)*) => {
        impl Status {
            $(
                #[doc = concat!("`", stringify!($code), " ", $text, "`")]
                pub const $name: Status = Status($code);
            )*

            /// The reason text sent after the code on the status line.
            pub fn reason(self) -> &'static str {
                match self.0 {
                    $($code => $text,)*
                    _ => "Unknown",
                }
            }
        }
    };
}

statuses! {
    OK = 200, "OK";
    ACCEPTED = 202, "Accepted";
    NO_CONTENT = 204, "No Content";
    NEGOTIATION_IN_PROGRESS = 261, "Negotiation In Progress";
    AUTHORIZATION_REQUIRED = 262, "Authorization Required";
    ENDPOINT_INSTANTIATED = 263, "Endpoint Instantiated";
    BAD_REQUEST = 400, "Bad Request";
    UNAUTHORIZED = 401, "Unauthorized";
    FORBIDDEN = 403, "Forbidden";
    NOT_FOUND = 404, "Not Found";
    METHOD_NOT_ALLOWED = 405, "Method Not Allowed";
    TIMEOUT = 408, "Timeout";
    CONFLICT = 409, "Conflict";
    GONE = 410, "Gone";
    CONTENT_TOO_LARGE = 413, "Content Too Large";
    URI_TOO_LONG = 414, "URI Too Long";
    UNPROCESSABLE = 422, "Unprocessable";
    RATE_LIMITED = 429, "Rate Limited";
    HEADER_FIELDS_TOO_LARGE = 431, "Request Header Fields Too Large";
    SCOPE_VIOLATION = 451, "Scope Violation";
    BUDGET_EXCEEDED = 452, "Budget Exceeded";
    ZONE_VIOLATION = 453, "Zone Violation";
    GRAMMAR_VIOLATION = 454, "Grammar Violation";
    COUNTERPARTY_UNVERIFIED = 455, "Counterparty Unverified";
    METHOD_VIOLATION = 459, "Method Violation";
    ENDPOINT_VIOLATION = 460, "Endpoint Violation";
    SERVER_ERROR = 500, "Server Error";
    NOT_IMPLEMENTED = 501, "Not Implemented";
    BAD_GATEWAY = 502, "Bad Gateway";
    UNAVAILABLE = 503, "Unavailable";
    GATEWAY_TIMEOUT = 504, "Gateway Timeout";
    LOOP_DETECTED = 508, "Loop Detected";
    DELEGATION_FAILURE = 550, "Delegation Failure";
    AUTHORITY_CHAIN_BROKEN = 551, "Authority Chain Broken";
}

impl Status {
    /// A status from its numeric code; `None` outside 100..=999.
    pub fn from_code(code: u16) -> Option<Status> {
        (100..=999).contains(&code).then_some(Status(code))
    }

    /// The numeric code.
    pub fn code(self) -> u16 {
        self.0
    }

    /// The class digit: 2 for success, 4 for client errors, 5 for server errors.
    pub fn class(self) -> u16 {
        self.0 / 100
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.0, self.reason())
    }
}

#[cfg(test)]
mod tests;
