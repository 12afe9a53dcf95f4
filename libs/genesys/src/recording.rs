//! Whether a conversation's recording can be linked yet.
//!
//! `GET /api/v2/conversations/{id}/recordings?maxWaitMs=` answers 202 while
//! Genesys is still preparing the media, else a list of `Recording`s whose
//! `fileState` is one of `UPLOADING`, `AVAILABLE`, `ARCHIVED`, `RESTORING`,
//! `RESTORED`, `DELETED`, `ERROR`, and whose `mediaUris` is null when there is
//! no playable media. The decision, in order:
//!
//! 1. a recording `AVAILABLE` or `RESTORED` with a media URI: **Ready**
//!    (audio preferred over screen recordings);
//! 2. a recording still `UPLOADING` or `RESTORING`, or with a state this
//!    client does not know: **Pending**;
//! 3. no recording listed yet (or the 202): **Pending**;
//! 4. otherwise every recording is `DELETED`, `ERROR`, `ARCHIVED` (it needs a
//!    manual restore) or has no playable media (a chat or email transcript):
//!    **Unavailable**, and asking again will not change that.

use crate::models::Recording;

/// Where a conversation's recording stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingStatus {
    /// Playable now at `url` (a pre-signed URL that expires; link to the
    /// interaction for a lasting reference).
    Ready {
        /// The media URI.
        url: String,
    },
    /// Not ready yet; ask again later.
    Pending,
    /// There is no playable recording and there will not be one.
    Unavailable,
}

/// Decides from a 200 answer's recordings.
pub(crate) fn recording_status(recordings: &[Recording]) -> RecordingStatus {
    let playable = |recording: &&Recording| {
        matches!(
            recording.file_state.as_deref(),
            Some("AVAILABLE" | "RESTORED")
        )
    };
    let media_uri = |recording: &Recording| {
        recording
            .media_uris
            .as_ref()?
            .values()
            .filter_map(|media| media.media_uri.as_deref())
            .find(|uri| !uri.trim().is_empty())
            .map(str::to_owned)
    };
    let is_audio = |recording: &&Recording| recording.media.as_deref() == Some("audio");
    let ready = recordings
        .iter()
        .filter(playable)
        .filter(is_audio)
        .chain(recordings.iter().filter(playable))
        .find_map(media_uri);
    if let Some(url) = ready {
        return RecordingStatus::Ready { url };
    }
    let in_progress = recordings.iter().any(|recording| {
        !matches!(
            recording.file_state.as_deref(),
            Some("AVAILABLE" | "RESTORED" | "ARCHIVED" | "DELETED" | "ERROR")
        )
    });
    if in_progress || recordings.is_empty() {
        RecordingStatus::Pending
    } else {
        RecordingStatus::Unavailable
    }
}

#[cfg(test)]
mod tests {
    use super::{RecordingStatus, recording_status};
    use crate::models::Recording;

    fn recordings(json: &str) -> Vec<Recording> {
        serde_json::from_str(json).unwrap_or_else(|error| panic!("{error}: {json}"))
    }

    #[test]
    fn available_media_is_ready_and_audio_wins() {
        let list = recordings(
            r#"[{"media":"screen","fileState":"AVAILABLE","mediaUris":{"0":{"mediaUri":"https://media.example/screen.webm"}}},
                {"media":"audio","fileState":"AVAILABLE","mediaUris":{"S":{"mediaUri":"https://media.example/call.webm","waveformData":[0.1]}}}]"#,
        );
        assert_eq!(
            recording_status(&list),
            RecordingStatus::Ready {
                url: "https://media.example/call.webm".into()
            }
        );
    }

    #[test]
    fn nothing_listed_or_still_uploading_is_pending() {
        assert_eq!(recording_status(&[]), RecordingStatus::Pending);
        let list = recordings(
            r#"[{"media":"audio","fileState":"UPLOADING","mediaUris":null},
                {"media":"audio","fileState":"DELETED"}]"#,
        );
        assert_eq!(recording_status(&list), RecordingStatus::Pending);
        let unknown = recordings(r#"[{"media":"audio","fileState":"SOMETHING_NEW"}]"#);
        assert_eq!(recording_status(&unknown), RecordingStatus::Pending);
    }

    #[test]
    fn deleted_failed_archived_or_mediafree_is_unavailable() {
        let list = recordings(
            r#"[{"media":"audio","fileState":"DELETED"},
                {"media":"audio","fileState":"ERROR"},
                {"media":"audio","fileState":"ARCHIVED"},
                {"media":"chat","fileState":"AVAILABLE","mediaUris":null}]"#,
        );
        assert_eq!(recording_status(&list), RecordingStatus::Unavailable);
    }
}
