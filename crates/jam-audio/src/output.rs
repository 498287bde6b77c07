//! Playing a [`Renderer`] through a real output device with cpal (ALSA on Linux).
//!
//! Opening is two steps, so the engine can be created at a rate the device really plays:
//! [`plan`] picks the device and its stream settings, then [`start`] moves the renderer into
//! the device's callback. If a device cannot be opened the renderer is handed back with the
//! error: the app keeps running (silently) and says why.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{
    BufferSize, ErrorKind, FromSample, OutputCallbackInfo, SampleFormat, SizedSample, StreamConfig,
    SupportedBufferSize,
};

use crate::renderer::EngineStats;
use crate::{AudioError, Renderer, Result};

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputConfig {
    /// Device name as listed by [`output_devices`]; `None` = the system default.
    pub device: Option<String>,
    /// Preferred sample rate in Hz (default 48,000; 44,100 is tried next).
    pub sample_rate: u32,
    /// Frames per callback (default 256 ≈ 5.3 ms at 48 kHz); clamped to what the device allows.
    pub buffer_frames: u32,
}

impl Default for OutputConfig {
    fn default() -> OutputConfig {
        OutputConfig {
            device: None,
            sample_rate: 48_000,
            buffer_frames: 256,
        }
    }
}

/// The stream settings chosen for a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputPlan {
    /// The device's name, for people.
    pub device: String,
    /// How the device was asked for: a name from [`output_devices`], or `None` for the system
    /// default (which follows the system's choice when the stream is restarted).
    pub requested: Option<String>,
    /// Sample rate in Hz: create the engine at this rate.
    pub sample_rate: u32,
    /// Channels of the stream (the engine writes stereo into the first two).
    pub channels: u16,
    /// Sample format the device takes.
    pub sample_format: SampleFormat,
    /// Frames per callback, if the device lets us choose.
    pub buffer_frames: Option<u32>,
}

/// Names of the output devices of the default host.
pub fn output_devices() -> Result<Vec<String>> {
    let host = cpal::default_host();
    let devices = host
        .output_devices()
        .map_err(|e| AudioError::NoOutputDevice {
            detail: e.to_string(),
        })?;
    Ok(devices.map(|d| d.to_string()).collect())
}

/// The name of the default host's default output device, if it has one.
pub fn default_output_device() -> Option<String> {
    cpal::default_host()
        .default_output_device()
        .map(|d| d.to_string())
}

fn find_device(config: &OutputConfig) -> Result<cpal::Device> {
    let host = cpal::default_host();
    match &config.device {
        None => host
            .default_output_device()
            .ok_or_else(|| AudioError::NoOutputDevice {
                detail: "the system has no default output".into(),
            }),
        Some(name) => {
            let devices = host
                .output_devices()
                .map_err(|e| AudioError::NoOutputDevice {
                    detail: e.to_string(),
                })?;
            let mut available = Vec::new();
            for device in devices {
                let device_name = device.to_string();
                if &device_name == name {
                    return Ok(device);
                }
                available.push(device_name);
            }
            Err(AudioError::DeviceNotFound {
                name: name.clone(),
                available,
            })
        }
    }
}

/// Picks the device and the stream settings closest to `config`.
pub fn plan(config: &OutputConfig) -> Result<OutputPlan> {
    let device = find_device(config)?;
    let name = device.to_string();
    let unavailable = |e: cpal::Error| AudioError::DeviceUnavailable {
        device: name.clone(),
        detail: e.to_string(),
    };
    let ranges: Vec<_> = device
        .supported_output_configs()
        .map_err(unavailable)?
        .collect();
    let format_rank = |f: SampleFormat| match f {
        SampleFormat::F32 => 0,
        SampleFormat::I16 => 1,
        SampleFormat::I32 => 2,
        SampleFormat::I24 => 3,
        _ if f.is_dsd() => 9,
        _ => 4,
    };
    let mut best = None;
    for rate in [config.sample_rate, 48_000, 44_100] {
        best = ranges
            .iter()
            .filter(|r| {
                r.min_sample_rate() <= rate
                    && rate <= r.max_sample_rate()
                    && !r.sample_format().is_dsd()
            })
            .min_by_key(|r| {
                (
                    r.channels() != 2,
                    r.channels() < 2,
                    format_rank(r.sample_format()),
                )
            })
            .map(|r| (*r, rate));
        if best.is_some() {
            break;
        }
    }
    let (range, rate) = match best {
        Some(found) => found,
        None => {
            let default = device.default_output_config().map_err(unavailable)?;
            return Ok(OutputPlan {
                device: name,
                requested: config.device.clone(),
                sample_rate: default.sample_rate(),
                channels: default.channels(),
                sample_format: default.sample_format(),
                buffer_frames: None,
            });
        }
    };
    let buffer_frames = match range.buffer_size() {
        SupportedBufferSize::Range { min, max } => Some(config.buffer_frames.clamp(*min, *max)),
        SupportedBufferSize::Unknown => Some(config.buffer_frames),
    };
    Ok(OutputPlan {
        device: name,
        requested: config.device.clone(),
        sample_rate: rate,
        channels: range.channels(),
        sample_format: range.sample_format(),
        buffer_frames,
    })
}

/// A running output stream. Dropping it stops the sound; [`AudioOutput::stop`] also returns the
/// renderer so it can be started on another device.
pub struct AudioOutput {
    stream: cpal::Stream,
    plan: OutputPlan,
    health: Arc<Health>,
    renderer_back: mpsc::Receiver<Renderer>,
}

/// How long a stream may keep reporting errors without playing a single buffer before it
/// counts as lost. A stream error is not always the end: through PulseAudio's ALSA plugin
/// (alsa-plugins ≤ 1.2.12, Debian 12 and Ubuntu 24.04 among them) `snd_pcm_avail_delay` says
/// "I/O error" whenever the server has not yet sent fresh timing — after every underrun, so
/// whenever a loaded machine or a stalled sound server stutters (alsa-plugins issue #65) —
/// and the very next call succeeds. A stream that is really gone (device unplugged, stream
/// killed) errors on every call and never plays again: it is reopened once this has passed.
pub const LOST_AFTER: Duration = Duration::from_millis(200);

/// What the device's worker thread tells the owner of the stream, without locks: the audio
/// side only stores atomics (and, once, moves its first error into `first_error` if that lock
/// is free; it never waits for it).
#[derive(Debug)]
struct Health {
    /// Origin of the timestamps below.
    base: Instant,
    /// When (ns after `base`, plus one; 0 = not now) the stream started erring without
    /// playing since; a data callback clears it.
    erring_since: AtomicU64,
    /// cpal's worker has stopped: the device is gone.
    gone: AtomicBool,
    /// The first error, for the log.
    first_error: Mutex<Option<cpal::Error>>,
    kept_error: AtomicBool,
    /// The loss has been logged.
    said: AtomicBool,
}

impl Health {
    fn new() -> Health {
        Health {
            base: Instant::now(),
            erring_since: AtomicU64::new(0),
            gone: AtomicBool::new(false),
            first_error: Mutex::new(None),
            kept_error: AtomicBool::new(false),
            said: AtomicBool::new(false),
        }
    }

    fn stamp(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    /// The data callback ran: whatever erred before, the stream plays.
    fn played(&self) {
        if self.erring_since.load(Relaxed) != 0 {
            self.erring_since.store(0, Relaxed);
        }
    }

    /// The backend reported an error (not an underrun).
    fn erred(&self, e: cpal::Error) {
        if e.kind() == ErrorKind::DeviceNotAvailable {
            self.gone.store(true, Relaxed);
        }
        if self.erring_since.load(Relaxed) == 0 {
            self.erring_since.store(self.stamp(Instant::now()), Relaxed);
        }
        if !self.kept_error.load(Relaxed)
            && let Ok(mut first) = self.first_error.try_lock()
        {
            // Moved in as it is: nothing is formatted or allocated on this thread.
            *first = Some(e);
            self.kept_error.store(true, Relaxed);
        }
    }

    /// Lost: the device is gone, or the stream has erred without playing for [`LOST_AFTER`].
    /// Says so once, with the first error.
    fn lost(&self, now: Instant) -> bool {
        let since = self.erring_since.load(Relaxed);
        let lost = self.gone.load(Relaxed)
            || (since != 0
                && self.stamp(now).saturating_sub(since)
                    >= u64::try_from(LOST_AFTER.as_nanos()).unwrap_or(u64::MAX));
        if lost && !self.said.swap(true, Relaxed) {
            let error = self
                .first_error
                .lock()
                .ok()
                .and_then(|e| e.as_ref().map(ToString::to_string))
                .unwrap_or_default();
            tracing::warn!(%error, "audio output lost");
        }
        lost
    }
}

impl std::fmt::Debug for AudioOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioOutput")
            .field("plan", &self.plan)
            .field("health", &self.health)
            .finish()
    }
}

/// A stream that could not start: why, and the renderer back (with all its state), so the app
/// keeps its engine and can try another device.
pub struct StartFailed {
    /// Why the stream did not start.
    pub error: AudioError,
    /// The renderer that was to be played.
    pub renderer: Box<Renderer>,
}

impl std::fmt::Debug for StartFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartFailed")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl StartFailed {
    fn new(error: AudioError, renderer: Renderer) -> StartFailed {
        StartFailed {
            error,
            renderer: Box::new(renderer),
        }
    }
}

/// Holds the renderer inside the callback and sends it back when the callback is dropped
/// (when the stream stops, off the real-time path).
struct RendererSlot {
    renderer: Option<Renderer>,
    back: mpsc::SyncSender<Renderer>,
}

impl Drop for RendererSlot {
    fn drop(&mut self) {
        if let Some(renderer) = self.renderer.take() {
            let _ = self.back.try_send(renderer);
        }
    }
}

/// Starts playing `renderer` on the planned device. On failure the renderer comes back with
/// the error.
pub fn start(
    plan: OutputPlan,
    renderer: Renderer,
) -> std::result::Result<AudioOutput, StartFailed> {
    let device = match find_device(&OutputConfig {
        device: plan.requested.clone(),
        ..OutputConfig::default()
    }) {
        Ok(device) => device,
        Err(e) => return Err(StartFailed::new(e, renderer)),
    };
    let unavailable = |e: cpal::Error| AudioError::DeviceUnavailable {
        device: plan.device.clone(),
        detail: e.to_string(),
    };
    let wanted = plan
        .buffer_frames
        .map_or(BufferSize::Default, BufferSize::Fixed);
    match try_start(&device, &plan, renderer, wanted) {
        Ok(output) => Ok(output),
        Err((e, renderer))
            if wanted != BufferSize::Default && e.kind() == ErrorKind::UnsupportedConfig =>
        {
            tracing::warn!(device = %plan.device, buffer = ?wanted, "buffer size refused; using the device's default");
            try_start(&device, &plan, *renderer, BufferSize::Default).map_err(|(e, renderer)| {
                StartFailed {
                    error: unavailable(e),
                    renderer,
                }
            })
        }
        Err((e, renderer)) => Err(StartFailed {
            error: unavailable(e),
            renderer,
        }),
    }
}

fn try_start(
    device: &cpal::Device,
    plan: &OutputPlan,
    renderer: Renderer,
    buffer_size: BufferSize,
) -> std::result::Result<AudioOutput, (cpal::Error, Box<Renderer>)> {
    let (back, renderer_back) = mpsc::sync_channel(1);
    let health = Arc::new(Health::new());
    let stats = renderer.stats_handle();
    let slot = RendererSlot {
        renderer: Some(renderer),
        back,
    };
    let config = StreamConfig {
        channels: plan.channels,
        sample_rate: plan.sample_rate,
        buffer_size,
    };
    let returned = |e: cpal::Error, rx: &mpsc::Receiver<Renderer>| {
        let renderer = rx.recv().expect("a dropped callback returns the renderer");
        (e, Box::new(renderer))
    };
    let stream = match build(
        device,
        &config,
        plan.sample_format,
        slot,
        health.clone(),
        stats,
    ) {
        Ok(stream) => stream,
        Err(e) => return Err(returned(e, &renderer_back)),
    };
    if let Err(e) = stream.play() {
        drop(stream);
        return Err(returned(e, &renderer_back));
    }
    tracing::info!(device = %plan.device, rate = plan.sample_rate, channels = plan.channels, format = ?plan.sample_format, buffer = ?buffer_size, "audio output started");
    Ok(AudioOutput {
        stream,
        plan: plan.clone(),
        health,
        renderer_back,
    })
}

impl AudioOutput {
    /// The settings in use.
    pub fn plan(&self) -> &OutputPlan {
        &self.plan
    }

    /// True once the stream has failed (the device unplugged, the sound server stopped, the
    /// stream broken; errors that pass within [`LOST_AFTER`] are not failures): stop this
    /// output and start a new one, on the same device when it returns or on another
    /// (`jam-play`'s core does, within half a second). Logs the loss the first time it is seen.
    pub fn failed(&self) -> bool {
        self.health.lost(Instant::now())
    }

    /// Stops the stream and starts it again the way it was asked for — on the same named
    /// device, or on whatever is the system default now. Use it when [`AudioOutput::failed`]
    /// turns true (a device unplugged and back, a sound server restarted). The new device must
    /// play the engine's sample rate; if it cannot, the renderer comes back with the error.
    pub fn restart(self) -> std::result::Result<AudioOutput, StartFailed> {
        let rate = self.plan.sample_rate;
        let request = OutputConfig {
            device: self.plan.requested.clone(),
            sample_rate: rate,
            buffer_frames: self
                .plan
                .buffer_frames
                .unwrap_or(OutputConfig::default().buffer_frames),
        };
        let renderer = self.stop();
        match plan(&request) {
            Ok(new_plan) if new_plan.sample_rate == rate => start(new_plan, renderer),
            Ok(new_plan) => Err(StartFailed::new(
                AudioError::DeviceUnavailable {
                    device: new_plan.device,
                    detail: format!(
                        "it plays {} Hz, not the engine's {rate} Hz",
                        new_plan.sample_rate
                    ),
                },
                renderer,
            )),
            Err(e) => Err(StartFailed::new(e, renderer)),
        }
    }

    /// Stops the stream and returns the renderer (with all its state) for a new output.
    pub fn stop(self) -> Renderer {
        let AudioOutput {
            stream,
            renderer_back,
            ..
        } = self;
        drop(stream);
        renderer_back
            .recv()
            .expect("a dropped callback returns the renderer")
    }
}

fn build(
    device: &cpal::Device,
    config: &StreamConfig,
    format: SampleFormat,
    slot: RendererSlot,
    health: Arc<Health>,
    stats: Arc<EngineStats>,
) -> std::result::Result<cpal::Stream, cpal::Error> {
    macro_rules! build_as {
        ($t:ty) => {
            build_typed::<$t>(device, config, slot, health, stats)
        };
    }
    match format {
        SampleFormat::I8 => build_as!(i8),
        SampleFormat::I16 => build_as!(i16),
        SampleFormat::I24 => build_as!(cpal::I24),
        SampleFormat::I32 => build_as!(i32),
        SampleFormat::I64 => build_as!(i64),
        SampleFormat::U8 => build_as!(u8),
        SampleFormat::U16 => build_as!(u16),
        SampleFormat::U24 => build_as!(cpal::U24),
        SampleFormat::U32 => build_as!(u32),
        SampleFormat::U64 => build_as!(u64),
        SampleFormat::F32 => build_as!(f32),
        SampleFormat::F64 => build_as!(f64),
        other => {
            drop(slot);
            Err(cpal::Error::with_message(
                ErrorKind::UnsupportedConfig,
                format!("sample format {other:?} is not PCM"),
            ))
        }
    }
}

/// Largest callback rendered in one pass into the scratch buffer; larger ones are split.
const SCRATCH_FRAMES: usize = 8_192;

fn build_typed<T>(
    device: &cpal::Device,
    config: &StreamConfig,
    mut slot: RendererSlot,
    health: Arc<Health>,
    stats: Arc<EngineStats>,
) -> std::result::Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + FromSample<f32>,
{
    let channels = usize::from(config.channels.max(1));
    let rate = f64::from(config.sample_rate);
    let mut scratch = vec![0.0f32; SCRATCH_FRAMES * channels];
    let callback_stats = stats.clone();
    let callback_health = health.clone();
    let mut callback = move |data: &mut [T], info: &OutputCallbackInfo| {
        // Real-time safe: the scratch buffer and the renderer were allocated before the stream.
        let started = Instant::now();
        callback_health.played();
        let stamp = info.timestamp();
        let latency = stamp
            .playback
            .checked_duration_since(stamp.callback)
            .unwrap_or(Duration::ZERO);
        let Some(renderer) = slot.renderer.as_mut() else {
            return;
        };
        let mut done_frames = 0usize;
        for chunk in data.chunks_mut(SCRATCH_FRAMES * channels) {
            let scratch = &mut scratch[..chunk.len()];
            let heard_at = started + latency + Duration::from_secs_f64(done_frames as f64 / rate);
            renderer.render(scratch, channels, heard_at);
            for (out, sample) in chunk.iter_mut().zip(scratch.iter()) {
                *out = T::from_sample(*sample);
            }
            done_frames += chunk.len() / channels;
        }
        let budget = Duration::from_secs_f64(done_frames as f64 / rate);
        if started.elapsed() > budget {
            callback_stats.overruns.fetch_add(1, Relaxed);
        }
    };
    let data_callback = move |data: &mut [T], info: &OutputCallbackInfo| {
        #[cfg(feature = "assert-no-alloc")]
        assert_no_alloc::assert_no_alloc(|| callback(data, info));
        #[cfg(not(feature = "assert-no-alloc"))]
        callback(data, info);
    };
    // An underrun is counted. Any other error starts the [`LOST_AFTER`] clock: it may pass
    // (PulseAudio's plugin after an underrun) or be the end (the device went away; then the
    // worker reports the same error thousands of times a second and never plays again —
    // measured: a listener fell silent for the rest of a jam). Nothing is logged from this
    // thread; [`AudioOutput::failed`] says it once, and its owner restarts the output.
    let error_callback = move |e: cpal::Error| match e.kind() {
        ErrorKind::Xrun => {
            stats.xruns.fetch_add(1, Relaxed);
        }
        _ => {
            stats.stream_errors.fetch_add(1, Relaxed);
            health.erred(e);
        }
    };
    device.build_output_stream::<T, _, _>(*config, data_callback, error_callback, None)
}

#[cfg(test)]
mod tests;
