//! Path templates: the segments of an endpoint's path (`/rooms/{room_id}`), and the
//! percent-decoding a request path's segments go through before they are compared.

/// One segment of a declared path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Segment {
    /// Text that must match exactly, stored percent-decoded.
    Literal(String),
    /// `{name}`: any non-empty segment, bound to `name`.
    Param(String),
}

impl Segment {
    pub(super) fn is_param(&self) -> bool {
        matches!(self, Segment::Param(_))
    }
}

/// `raw` with `%XX` escapes decoded; a malformed escape stays as written, and bytes that
/// do not form UTF-8 become U+FFFD. `+` is a plain `+` in a path.
pub(super) fn percent_decode(raw: &str) -> String {
    if !raw.contains('%') {
        return raw.to_owned();
    }
    let bytes: Vec<u8> = PercentDecoded::new(raw).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The bytes of a percent-encoded string, decoded one at a time.
struct PercentDecoded<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> PercentDecoded<'a> {
    fn new(raw: &'a str) -> Self {
        PercentDecoded {
            bytes: raw.as_bytes(),
            at: 0,
        }
    }
}

impl Iterator for PercentDecoded<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.at)?;
        self.at += 1;
        if byte == b'%' {
            let high = self.bytes.get(self.at).copied().and_then(hex_value);
            let low = self.bytes.get(self.at + 1).copied().and_then(hex_value);
            if let (Some(high), Some(low)) = (high, low) {
                self.at += 2;
                return Some(high << 4 | low);
            }
        }
        Some(byte)
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|digit| u8::try_from(digit).ok())
}

/// Whether `raw`, percent-decoded, equals `decoded`, without allocating.
pub(super) fn decoded_eq(raw: &str, decoded: &str) -> bool {
    if !raw.contains('%') {
        return raw == decoded;
    }
    PercentDecoded::new(raw).eq(decoded.bytes())
}
