//! The relay's secrets: room passwords, host and lane tokens, the create key. Fresh ones are
//! random; every comparison takes the same time whatever prefix matches.

use jam_protocol::RoomCode;

/// A fresh random secret: 20 symbols of the room-code alphabet (100 bits).
pub(crate) fn new_secret() -> String {
    let values: [u8; 20] = rand::random();
    values
        .iter()
        .map(|v| char::from(RoomCode::ALPHABET[usize::from(v % 32)]))
        .collect()
}

/// Compares two secrets (a password, a host or lane token, the create key) without revealing
/// a common prefix through timing: constant time for equal lengths.
pub(crate) fn secrets_match(expected: &str, given: &str) -> bool {
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_comparison() {
        assert!(secrets_match("secret", "secret"));
        assert!(!secrets_match("secret", "secreT"));
        assert!(!secrets_match("secret", "secre"));
    }

    #[test]
    fn fresh_secrets_are_long_and_differ() {
        let (a, b) = (new_secret(), new_secret());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }
}
