use super::*;

fn io_error() -> cpal::Error {
    cpal::Error::with_message(ErrorKind::BackendError, "I/O error (5)")
}

#[test]
fn an_error_that_passes_before_the_stream_plays_again_is_no_loss() {
    let health = Health::new();
    assert!(!health.lost(Instant::now()));
    health.erred(io_error());
    health.erred(io_error());
    assert!(!health.lost(Instant::now()), "within the grace time");
    health.played();
    assert!(
        !health.lost(Instant::now() + LOST_AFTER * 10),
        "it played again"
    );
    assert!(!health.said.load(Relaxed));
}

#[test]
fn a_stream_that_keeps_erring_without_playing_is_lost_once_the_grace_time_passes() {
    let health = Health::new();
    health.erred(io_error());
    let first = Instant::now();
    assert!(!health.lost(first));
    health.erred(io_error());
    assert!(health.lost(first + LOST_AFTER));
    assert!(health.said.load(Relaxed), "said once");
    assert!(health.lost(first + LOST_AFTER * 2), "and stays lost");
    assert!(
        health
            .first_error
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|e| e.to_string().contains("I/O error")),
        "the first error is kept for the log"
    );
}

#[test]
fn a_device_gone_is_lost_at_once() {
    let health = Health::new();
    health.erred(cpal::Error::with_message(
        ErrorKind::DeviceNotAvailable,
        "unplugged",
    ));
    assert!(health.lost(Instant::now()));
}
