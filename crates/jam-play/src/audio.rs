//! The audio output: what it is now, switching it (the samples are not decoded again), and
//! reopening it by itself when its stream fails.

use std::time::Duration;

use jam_audio::output::{self, OutputConfig};

use crate::error::{PlayError, Result};
use crate::speaker::Speaker;
use crate::stage::StageHandle;
use crate::views::AudioView;

/// How often the core looks whether the audio output's stream failed (and reopens it).
const AUDIO_CHECK: Duration = Duration::from_millis(500);

/// The audio output now.
pub(crate) fn view(stage: &StageHandle) -> AudioView {
    let (device, sample_rate, buffer_frames, error) = {
        let stage = stage.lock();
        let plan = stage.speaker.plan();
        (
            plan.map(|p| p.device.clone()),
            plan.map(|p| p.sample_rate),
            plan.and_then(|p| p.buffer_frames),
            stage.speaker.silent_reason().map(str::to_owned),
        )
    };
    AudioView {
        device,
        sample_rate,
        buffer_frames,
        error,
        devices: output::output_devices().unwrap_or_default(),
    }
}

/// Plays through the output `config` names. The stage is locked only to swap engines. If the
/// new output can't be opened, the previous one is opened again and the error says why.
pub(crate) fn switch(stage: &StageHandle, config: OutputConfig) -> Result<()> {
    let (bank, previous) = {
        let stage = stage.lock();
        (stage.speaker.bank(), stage.speaker.config().clone())
    };
    let Some(bank) = bank else {
        let reason = view(stage).error.unwrap_or_default();
        return Err(PlayError::Audio(reason));
    };
    // Close the old device first: some (ALSA hardware) can't be opened twice.
    let old = stage
        .lock()
        .speaker
        .replace_output(Err("switching outputs".into()), previous.clone());
    drop(old);
    match Speaker::open_output(&bank, &config) {
        Ok(opened) => {
            drop(stage.lock().speaker.replace_output(Ok(opened), config));
            Ok(())
        }
        Err(reason) => {
            let back = Speaker::open_output(&bank, &previous);
            drop(stage.lock().speaker.replace_output(back, previous));
            Err(PlayError::Audio(reason))
        }
    }
}

/// Reopens the audio output whenever its stream fails (a device unplugged and back, a sound
/// server restarted, a broken stream): checked every [`AUDIO_CHECK`], the new output opened
/// off the lock. Everyone's volume and mute carry over; what was ringing is cut. Runs for as
/// long as the runtime does.
pub(crate) async fn watch(stage: StageHandle) {
    let mut tick = tokio::time::interval(AUDIO_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The output to reopen, while it can't be (its device is still away): tried every tick.
    let mut reopening: Option<OutputConfig> = None;
    loop {
        tick.tick().await;
        let (old, bank, config) = {
            let mut stage = stage.lock();
            if stage.speaker.plan().is_some() && !stage.speaker.output_failed() {
                reopening = None; // playing (perhaps on a device chosen meanwhile)
                continue;
            }
            let (old, config) = match (&reopening, stage.speaker.output_failed()) {
                (_, true) => {
                    let config = stage.speaker.config().clone();
                    let old = stage.speaker.replace_output(
                        Err("the audio output failed; reopening it".into()),
                        config.clone(),
                    );
                    (old, config)
                }
                (Some(config), false) => (None, config.clone()),
                (None, false) => continue, // silent on purpose, or switching devices
            };
            (old, stage.speaker.bank(), config)
        };
        let Some(bank) = bank else { continue };
        let opening = config.clone();
        let opened = tokio::task::spawn_blocking(move || {
            drop(old);
            Speaker::open_output(&bank, &opening)
        })
        .await;
        let mut stage = stage.lock();
        if stage.speaker.plan().is_some() {
            continue; // another output was chosen meanwhile: ours is dropped
        }
        match opened {
            Ok(Ok(output)) => {
                tracing::info!("audio output reopened");
                reopening = None;
                let previous = stage.speaker.replace_output(Ok(output), config);
                drop(stage);
                drop(previous);
            }
            Ok(Err(reason)) => {
                if reopening.is_none() {
                    tracing::warn!(%reason, "couldn't reopen the audio output; trying again");
                }
                reopening = Some(config);
            }
            Err(e) => tracing::warn!(error = %e, "reopening the audio output panicked"),
        }
    }
}
