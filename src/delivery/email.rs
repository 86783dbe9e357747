//! Localized email summaries and the mail transports (written in parallel; see issue 3).
