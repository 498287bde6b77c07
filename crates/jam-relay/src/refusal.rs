//! What a client is told when the relay refuses what it asked: an `error` message; the
//! connection carries on.

use jam_protocol::ErrorCode;

/// Longest `error` message, bytes: whatever a client sent that is echoed is cut to fit.
const MAX_REFUSAL_BYTES: usize = 200;

/// A client-caused refusal: answered with an `error` message, the connection carries on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

impl Refusal {
    /// A refusal; the message is cut to [`MAX_REFUSAL_BYTES`] (whatever it echoes).
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Refusal {
        let mut message = message.into();
        if message.len() > MAX_REFUSAL_BYTES {
            let mut end = MAX_REFUSAL_BYTES - 3;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push('…');
        }
        Refusal { code, message }
    }
}
