//! The room's shared time — tempo, click and the 16-step sequencer — lives in
//! [`jam_protocol::groove`], so the browser guest (`jam-web`, WebAssembly) plays the very same
//! steps at the very same times as the app.

pub use jam_protocol::groove::*;
