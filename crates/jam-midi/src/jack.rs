//! How many cycles the JACK server skipped (its "xruns") since we started counting.
//!
//! In a skipped cycle JACK drops the MIDI its clients exchanged: a note a keyboard sent then
//! never arrives. That is the machine being starved (no real-time scheduling, a busy CPU), not
//! a bug in the code that reads the port, and the count is how a test or a status line tells
//! the two apart. midir owns its JACK client and does not expose it, so [`Xruns`] opens a small
//! client of its own (no ports, no process callback) that only listens for the server's xrun
//! notifications.

use std::ffi::{CString, c_int, c_void};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use jack_sys as j;

use crate::{MidiError, Result};

/// A live count of the JACK server's xruns. Dropping it closes its client.
pub struct Xruns {
    client: *mut j::jack_client_t,
    count: Arc<AtomicU64>,
}

// SAFETY: the client handle is only used to close it (in `Drop`), and libjack's client calls
// are thread-safe; the count is shared through an atomic.
unsafe impl Send for Xruns {}

/// Called by libjack on its notification thread for every xrun.
unsafe extern "C" fn on_xrun(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `AtomicU64` inside the `Arc` that `Xruns` holds until after the
    // client is closed, so it outlives every call.
    let count = unsafe { &*arg.cast::<AtomicU64>() };
    count.fetch_add(1, Ordering::Relaxed);
    0
}

impl Xruns {
    /// Starts counting on the default JACK server (`JACK_DEFAULT_SERVER`); never starts one.
    pub fn new(client_name: &str) -> Result<Xruns> {
        let unavailable = |why: &str| MidiError::NoMidiSystem {
            detail: format!("JACK: {why}"),
        };
        let name = CString::new(client_name).map_err(|_| unavailable("a name without NUL"))?;
        let mut status: j::jack_status_t = 0;
        // SAFETY: a valid C string and status pointer; `JackNoStartServer` takes no extra
        // arguments.
        let client =
            unsafe { j::jack_client_open(name.as_ptr(), j::JackNoStartServer, &mut status) };
        if client.is_null() {
            return Err(unavailable(&format!("no JACK server (status {status:#x})")));
        }
        let count = Arc::new(AtomicU64::new(0));
        let arg = Arc::as_ptr(&count).cast_mut().cast::<c_void>();
        let xruns = Xruns { client, count };
        // SAFETY: `client` is open; the callback and its argument live as long as it does.
        let set = unsafe { j::jack_set_xrun_callback(xruns.client, Some(on_xrun), arg) };
        // SAFETY: as above; a client with no ports and no process callback is valid to activate.
        if set != 0 || unsafe { j::jack_activate(xruns.client) } != 0 {
            return Err(unavailable("the server refused the client"));
        }
        Ok(xruns)
    }

    /// Xruns so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl Drop for Xruns {
    fn drop(&mut self) {
        // SAFETY: the client was opened by `new` and is closed exactly once; after this no
        // callback runs, so the count may go.
        unsafe {
            j::jack_client_close(self.client);
        }
    }
}
