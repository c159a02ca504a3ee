//! `Accept` negotiation for DESCRIBE (RFC 9110 §12.5.1, the parts that matter here).
//!
//! Each offer takes the q-value of the most specific media range that matches it
//! (`type/subtype` over `type/*` over `*/*`; a range's other parameters are ignored). The
//! offer with the highest q wins; ties go to the offer matched more specifically, then to
//! the earlier offer in [`OFFERS`]. `q=0` refuses an offer. Malformed elements (no `/`, a
//! bad q-value) are skipped rather than failing the request.

/// A representation DESCRIBE can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    /// The document as JSON.
    Json,
    /// The document as YAML.
    Yaml,
    /// A small HTML card for people.
    Html,
}

/// A media type DESCRIBE can answer with, and how it renders.
pub(super) type Offer = (&'static str, Format);

/// How well a request accepts an offer: q-value (thousandths), then match specificity
/// (3 `type/subtype`, 2 `type/*`, 1 `*/*`). Compares in that order.
type Score = (u16, u8);

/// The media types DESCRIBE offers, in the server's order of preference. The first one is
/// also the answer when nothing else is acceptable.
pub(super) const OFFERS: &[Offer] = &[
    ("application/vnd.agtp.identity+json", Format::Json),
    ("application/json", Format::Json),
    ("application/vnd.agtp.identity+yaml", Format::Yaml),
    ("application/yaml", Format::Yaml),
    ("text/yaml", Format::Yaml),
    ("application/x-yaml", Format::Yaml),
    ("text/html", Format::Html),
];

/// One parsed element of an `Accept` value.
struct Range<'a> {
    kind: &'a str,
    subtype: &'a str,
    /// Thousandths: 0..=1000.
    q: u16,
}

/// The offer (media type and format) for an `Accept` value; `None` or an empty value
/// accepts anything, so it gets the first offer.
///
/// When every offer is refused or unmatched the answer is still the first offer (JSON):
/// AGTP's status table has no 406, and a client that asked for something we cannot make
/// is better served by the canonical form than by an error.
pub(super) fn negotiate(accept: Option<&str>) -> Offer {
    let ranges: Vec<Range<'_>> = accept
        .unwrap_or("")
        .split(',')
        .filter_map(parse_range)
        .collect();
    if ranges.is_empty() {
        return OFFERS[0];
    }
    let mut best: Option<(Score, Offer)> = None;
    for &offer in OFFERS {
        let Some(score) = score(&ranges, offer.0).filter(|&(q, _)| q > 0) else {
            continue;
        };
        // Strictly greater: on a full tie the earlier offer stays.
        if best.map_or(true, |(best_score, _)| score > best_score) {
            best = Some((score, offer));
        }
    }
    best.map_or(OFFERS[0], |(_, offer)| offer)
}

/// The [`Score`] of the most specific range matching `media_type`, if any matches.
fn score(ranges: &[Range<'_>], media_type: &str) -> Option<Score> {
    let (kind, subtype) = media_type.split_once('/')?;
    let mut best: Option<(u8, u16)> = None;
    for range in ranges {
        let specificity = if range.kind == "*" {
            1
        } else if !range.kind.eq_ignore_ascii_case(kind) {
            continue;
        } else if range.subtype == "*" {
            2
        } else if range.subtype.eq_ignore_ascii_case(subtype) {
            3
        } else {
            continue;
        };
        if best.map_or(true, |(s, _)| specificity > s) {
            best = Some((specificity, range.q));
        }
    }
    best.map(|(specificity, q)| (q, specificity))
}

/// One `Accept` element, or `None` when it is empty or malformed.
fn parse_range(element: &str) -> Option<Range<'_>> {
    let mut parts = element.split(';');
    let (kind, subtype) = parts.next()?.trim().split_once('/')?;
    let (kind, subtype) = (kind.trim(), subtype.trim());
    if kind.is_empty() || subtype.is_empty() || (kind == "*" && subtype != "*") {
        return None;
    }
    let mut q = 1000;
    for parameter in parts {
        let Some((name, value)) = parameter.split_once('=') else {
            continue;
        };
        if name.trim().eq_ignore_ascii_case("q") {
            q = parse_q(value.trim())?;
            // Parameters after q are accept-extensions; they do not matter here.
            break;
        }
    }
    Some(Range { kind, subtype, q })
}

/// An RFC 9110 qvalue (`0`, `0.5`, `1.000`, ...) in thousandths.
fn parse_q(value: &str) -> Option<u16> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |n, b| n * 10 + u16::from(b - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}
