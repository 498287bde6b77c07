//! What the app says when it can't open its window at all — before there is a page to say it
//! in. On Windows the window is Microsoft Edge WebView2: without its runtime the app would
//! otherwise vanish without a word, so it checks first and, if the runtime is missing, says so
//! and where to get it, in a system message box. Everywhere, a window that fails to open is
//! reported the same way (a message box on Windows, whose release build has no console; the
//! terminal elsewhere) instead of a panic.

/// Where to get the WebView2 runtime (Microsoft's page for the Evergreen installers).
pub const WEBVIEW2_URL: &str = "https://developer.microsoft.com/microsoft-edge/webview2/";

/// The sentence for a machine without the WebView2 runtime.
pub fn webview2_missing() -> String {
    format!(
        "Jamwire needs the Microsoft Edge WebView2 Runtime to show its window, and this computer \
         doesn't have it. Windows 10 and 11 usually include it; to add it, download the \
         Evergreen installer from {WEBVIEW2_URL}, run it, then start Jamwire again."
    )
}

/// The sentence for a window that failed to open for another reason.
pub fn failed(error: &dyn std::fmt::Display) -> String {
    format!("Jamwire couldn't open its window: {error}.")
}

/// Whether this machine can show the app's window: on Windows, whether a WebView2 runtime is
/// installed; elsewhere the system's web view is part of the package's dependencies.
pub fn available() -> bool {
    #[cfg(windows)]
    {
        let mut version = windows::core::PWSTR::null();
        // SAFETY: a null folder asks for the installed runtime; `version` receives a string
        // the loader allocates with CoTaskMemAlloc, freed below.
        let found = unsafe {
            webview2_com::Microsoft::Web::WebView2::Win32::GetAvailableCoreWebView2BrowserVersionString(
                windows::core::PCWSTR::null(),
                &mut version,
            )
        };
        if !version.is_null() {
            // SAFETY: allocated by the call above with CoTaskMemAlloc, not used after this.
            unsafe { windows::Win32::System::Com::CoTaskMemFree(Some(version.0.cast())) };
        }
        found.is_ok() && !version.is_null()
    }
    #[cfg(not(windows))]
    {
        true
    }
}

/// Tells the musician `message`: a message box on Windows, the terminal (and the log)
/// everywhere.
pub fn tell(message: &str) {
    tracing::error!("{message}");
    #[cfg(windows)]
    {
        use windows::Win32::UI::WindowsAndMessaging::{MB_ICONERROR, MB_OK, MessageBoxW};
        let text: Vec<u16> = message.encode_utf16().chain(Some(0)).collect();
        let title: Vec<u16> = "Jamwire".encode_utf16().chain(Some(0)).collect();
        // SAFETY: both strings are NUL-terminated UTF-16 that outlive the call; no owner window.
        unsafe {
            MessageBoxW(
                None,
                windows::core::PCWSTR(text.as_ptr()),
                windows::core::PCWSTR(title.as_ptr()),
                MB_OK | MB_ICONERROR,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_messages_say_what_to_do() {
        assert!(webview2_missing().contains(WEBVIEW2_URL));
        assert!(webview2_missing().contains("start Jamwire again"));
        assert_eq!(
            failed(&"no display"),
            "Jamwire couldn't open its window: no display."
        );
    }
}
