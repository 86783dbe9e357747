//! A small MIME reader for tests: enough to take apart what lettre writes
//! (CRLF lines, folded headers, multipart bodies, base64 and
//! quoted-printable parts) and check what a mail client would see.

use base64::Engine as _;

#[derive(Debug, Clone)]
pub struct Part {
    pub headers: Vec<(String, String)>,
    /// The body as transferred (still encoded).
    pub body: String,
    pub parts: Vec<Part>,
}

impl Part {
    /// Parses a whole message or one body part. Messages from lettre are
    /// 7-bit clean, which this checks first.
    pub fn parse(raw: &[u8]) -> Part {
        assert!(raw.is_ascii(), "the message must be 7-bit clean");
        let raw = std::str::from_utf8(raw).expect("ascii is utf-8");
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                let last = headers.last_mut().expect("a folded line follows a header");
                last.1.push(' ');
                last.1.push_str(line.trim());
            } else if let Some((name, value)) = line.split_once(':') {
                headers.push((name.trim().to_owned(), value.trim().to_owned()));
            }
        }
        let mut part = Part {
            headers,
            body: body.to_owned(),
            parts: Vec::new(),
        };
        if part.mime_type().starts_with("multipart/") {
            let boundary = part
                .param("Content-Type", "boundary")
                .expect("multipart has a boundary");
            let delimiter = format!("--{boundary}");
            let after_preamble = part.body.split_once(&delimiter).map(|(_, rest)| rest);
            let separator = format!("\r\n{delimiter}");
            let sections = after_preamble.unwrap_or_default().split(&separator);
            for section in sections {
                if section.starts_with("--") {
                    break;
                }
                let content = section.strip_prefix("\r\n").unwrap_or(section);
                part.parts.push(Part::parse(content.as_bytes()));
            }
        }
        part
    }

    /// The first header called `name`, ignoring case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `text/plain` for `text/plain; charset=utf-8`.
    pub fn mime_type(&self) -> String {
        self.header("Content-Type")
            .unwrap_or("text/plain")
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }

    /// A `name=value` parameter of a header, unquoted.
    pub fn param(&self, header: &str, name: &str) -> Option<String> {
        self.header(header)?.split(';').skip(1).find_map(|p| {
            let (key, value) = p.trim().split_once('=')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().trim_matches('"').to_owned())
        })
    }

    pub fn filename(&self) -> Option<String> {
        self.param("Content-Disposition", "filename")
    }

    pub fn transfer_encoding(&self) -> String {
        self.header("Content-Transfer-Encoding")
            .unwrap_or("7bit")
            .to_ascii_lowercase()
    }

    /// The body with its transfer encoding undone.
    pub fn decoded(&self) -> Vec<u8> {
        match self.transfer_encoding().as_str() {
            "base64" => {
                let compact: String = self.body.split_whitespace().collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .expect("valid base64")
            }
            "quoted-printable" => quoted_printable(&self.body),
            _ => self.body.as_bytes().to_vec(),
        }
    }

    pub fn decoded_text(&self) -> String {
        String::from_utf8(self.decoded()).expect("utf-8 text")
    }

    /// This part and every part inside it, depth first.
    pub fn walk(&self) -> Vec<&Part> {
        let mut all = vec![self];
        for part in &self.parts {
            all.extend(part.walk());
        }
        all
    }

    pub fn find_type(&self, mime_type: &str) -> Option<&Part> {
        self.walk().into_iter().find(|p| p.mime_type() == mime_type)
    }

    pub fn find_file(&self, name: &str) -> Option<&Part> {
        self.walk()
            .into_iter()
            .find(|p| p.filename().as_deref() == Some(name))
    }

    /// The notice a notice email carries: its `notice.json`, parsed.
    pub fn notice<T: serde::de::DeserializeOwned>(&self) -> T {
        let file = self.find_file("notice.json").expect("notice.json");
        serde_json::from_slice(&file.decoded()).expect("notice.json is a notice")
    }
}

fn quoted_printable(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' if bytes[i + 1..].starts_with(b"\n") => i += 2,
            b'=' => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex digits");
                out.push(u8::from_str_radix(hex, 16).expect("hex byte"));
                i += 3;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    out
}
