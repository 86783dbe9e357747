//! Rendering and both transports, end to end: what leaves breachgate is
//! parsed back the way a mail client would read it.

use serde_json::json;

use breachgate::agreements::ClientAgreement;
use breachgate::delivery::email::{
    render, EmailConfig, EmailError, MailTransport, Portal, Rendered, Sender, TlsMode,
    TransportKind,
};
use breachgate::domain::{AssumedInput, Change, Language, Notice, NoticeId, NoticeType};

use crate::support::mime::Part;
use crate::support::smtp_sink::SmtpSink;

const FIXTURE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/notice-example.json"
));
const JWS: &str = "eyJhbGciOiJFZERTQSIsImtpZCI6ImJnLTIwMjYifQ..c2lnbmF0dXJlLWJ5dGVz";

fn notice() -> Notice {
    serde_json::from_str(FIXTURE).expect("fixture notice")
}

fn client(language: Language) -> ClientAgreement {
    serde_json::from_value(json!({
        "id": "consorzio-formazione-emilia",
        "name": "Consorzio Formazione Emilia",
        "country": "IT",
        "language": language.as_str(),
        "time_zone": "Europe/Rome",
        "agreement": {"id": "DPA-2025-031", "reference": "CFE/RDT/2025/0148", "notify_within_hours": 36},
        "systems": [],
        "delivery": {"email": {
            "to": ["rpd@consorzio-formazione-emilia.example",
                   "Referente privacy <privacy@consorzio-formazione-emilia.example>"],
            "cc": ["archivio@consorzio-formazione-emilia.example"]
        }}
    }))
    .expect("client agreement")
}

fn sender() -> Sender {
    Sender::new(
        "Werkwijs breach notices <breach-notices@werkwijs.example>",
        "mail.werkwijs.example",
    )
    .expect("sender")
}

/// Renders `notice` for the English-language client, as a first notice.
fn render_en(notice: &Notice) -> Rendered {
    render(
        notice,
        FIXTURE.as_bytes(),
        JWS,
        &client(Language::En),
        &sender(),
        None,
    )
    .expect("render")
}

/// Bytes a careless transfer encoding would damage: CRLF and bare CR and LF,
/// trailing blanks, a lone dot, "From " at a line start, non-ASCII, no final
/// newline.
fn fragile_bytes() -> Vec<u8> {
    let mut bytes = FIXTURE.as_bytes().to_vec();
    bytes.extend_from_slice(
        b"\r\n.\r\n..\nFrom the start\rtrailing   \n\t\xc3\xa9\xe2\x80\x94\x00end",
    );
    bytes
}

fn update_notice() -> Notice {
    let mut notice = notice();
    notice.kind = NoticeType::Update;
    notice.data.sequence = 2;
    notice.data.supersedes = Some(NoticeId::parse("ntc_01M816N548Q4V7T2W9XBC5DRFH").expect("id"));
    notice.data.changes = vec![
        Change {
            path: "data_subjects.count".into(),
            old: json!({"min": 12, "max": 19, "precision": "approximate"}),
            new: json!({"min": 40, "max": 60, "precision": "upper_bound"}),
        },
        Change {
            path: "personal_data.special_categories".into(),
            old: json!([]),
            new: json!(["health"]),
        },
        Change {
            path: "occurred.to".into(),
            old: json!(null),
            new: json!("2026-11-22T01:40:00Z"),
        },
    ];
    notice
}

fn parts(rendered: &Rendered) -> (Part, String, String) {
    let message = Part::parse(&rendered.message.formatted());
    let text = message
        .find_type("text/plain")
        .expect("text part")
        .decoded_text();
    let html = message
        .find_type("text/html")
        .expect("html part")
        .decoded_text();
    (message, text, html)
}

fn subject(rendered: &Rendered) -> &str {
    rendered
        .message
        .headers()
        .get_raw("Subject")
        .expect("subject")
}

#[test]
fn renders_headers_structure_and_attachments() {
    let bytes = fragile_bytes();
    let rendered = render(
        &notice(),
        &bytes,
        JWS,
        &client(Language::En),
        &sender(),
        None,
    )
    .expect("render");

    assert_eq!(
        rendered.message_id,
        format!("{}@mail.werkwijs.example", notice().data.notice_id)
    );
    assert_eq!(
        subject(&rendered),
        "[BG-2026-0007] Personal data breach notification — Consorzio Formazione Emilia"
    );

    let (message, text, html) = parts(&rendered);
    assert_eq!(
        message.header("Message-ID"),
        Some(format!("<{}>", rendered.message_id).as_str())
    );
    assert_eq!(message.header("In-Reply-To"), None);
    assert!(message
        .header("From")
        .expect("from")
        .contains("<breach-notices@werkwijs.example>"));
    let to = message.header("To").expect("to");
    assert!(
        to.contains("rpd@consorzio-formazione-emilia.example"),
        "{to}"
    );
    assert!(
        to.contains("privacy@consorzio-formazione-emilia.example"),
        "{to}"
    );
    assert!(message.header("Cc").expect("cc").contains("archivio@"));
    assert!(message.header("Bcc").is_none());
    assert_eq!(message.header("Reply-To"), Some("privacy@werkwijs.example"));
    let mut recipients: Vec<String> = rendered
        .message
        .envelope()
        .to()
        .iter()
        .map(|a| a.to_string())
        .collect();
    recipients.sort();
    assert_eq!(
        recipients,
        [
            "archivio@consorzio-formazione-emilia.example",
            "privacy@consorzio-formazione-emilia.example",
            "rpd@consorzio-formazione-emilia.example",
        ]
    );

    // multipart/mixed: [alternative: [plain, html], notice.json, notice.jws]
    assert_eq!(message.mime_type(), "multipart/mixed");
    let kinds: Vec<String> = message.parts.iter().map(Part::mime_type).collect();
    assert_eq!(
        kinds,
        [
            "multipart/alternative",
            "application/json",
            "application/jose"
        ]
    );
    let alternative: Vec<String> = message.parts[0].parts.iter().map(Part::mime_type).collect();
    assert_eq!(alternative, ["text/plain", "text/html"]);
    for part in &message.parts[0].parts {
        assert_eq!(
            part.param("Content-Type", "charset").as_deref(),
            Some("utf-8")
        );
    }

    let json = &message.parts[1];
    assert_eq!(json.filename().as_deref(), Some("notice.json"));
    assert_eq!(json.transfer_encoding(), "base64");
    assert!(json
        .header("Content-Disposition")
        .expect("disposition")
        .starts_with("attachment"));
    assert_eq!(json.decoded(), bytes);

    let jws = &message.parts[2];
    assert_eq!(jws.filename().as_deref(), Some("notice.jws"));
    assert_eq!(jws.decoded_text().trim_end(), JWS);

    assert!(
        text.starts_with("Personal data breach notification\r\n"),
        "{text}"
    );
    assert!(html.contains("<html lang=\"en\">"), "{html}");
}

#[test]
fn the_body_has_every_section_in_english() {
    let mut notice = notice();
    notice.data.pending = vec!["personal_data.records".into(), "something.new".into()];
    notice.data.processor.contact.phone = Some("+31 30 233 1330".into());
    let rendered = render_en(&notice);
    let (_, text, html) = parts(&rendered);

    for expected in [
        // intro: who notifies whom, under which articles, and the 72 hours
        "We, Werkwijs Cloud B.V., are your processor. Under GDPR Art. 33(2) and our processing agreement (Art. 28(3)(f)), we notify you, Consorzio Formazione Emilia, as controller",
        "not later than 72 hours after having become aware of it (GDPR Art. 33(1))",
        "Some facts are still being established",
        // the notice
        "Our reference: BG-2026-0007",
        "Your reference: CFE/RDT/2025/0148",
        "Processing agreement: DPA-2025-031",
        "Type of notice: Initial notice",
        "Number of this notice in the series: 1",
        "Incident id: inc_01M816MSD8M8K4R1S7VYD3QJGE",
        // timeline
        // timeline, in the client's zone (Europe/Rome) beside UTC
        "We became aware on: 2026-11-22 08:30 Europe/Rome (2026-11-22 07:30 UTC)",
        "Breach started: 2026-11-21 23:14 Europe/Rome (2026-11-21 22:14 UTC) (estimated)",
        "Breach ended: 2026-11-22 02:40 Europe/Rome (2026-11-22 01:40 UTC) (estimated)",
        "Our notification deadline under the agreement: 2026-11-23 20:30 Europe/Rome (2026-11-23 19:30 UTC)",
        // what happened
        "Summary: An attacker obtained the password of a Quillfront support agent",
        "Where it happened: Werkwijs support workspace at Quillfront Support",
        "How it was discovered: Quillfront Support notified Werkwijs",
        "Nature of the breach: confidentiality\r\n",
        "Category: unauthorised access",
        "Origin of the cause: external",
        "Malicious intent: yes",
        "Cause: Credential phishing of a support agent",
        // systems and sub-processor
        "  - Werkwijs Leren (lms)",
        "Name: Quillfront Support",
        "Legal entity: Quillfront Support, Inc.",
        "Country: US",
        "Role: Customer-support ticketing",
        "Transfer safeguard: standard contractual clauses",
        // data subjects and data
        "Categories of data subjects: students, employees",
        "Approximate number of data subjects: 12–19 (approximate)",
        "Children among the data subjects: no",
        "Vulnerable persons among the data subjects: no",
        "Categories of personal data: identification data, contact details, education and training data",
        "Special categories (Art. 9 and 10): none",
        "Approximate number of personal data records: 19 (exact)",
        "Data unintelligible to unauthorised persons (e.g. encrypted): no",
        "Likely consequences for the data subjects: phishing, spam, loss of confidentiality",
        // measures, free text as written
        "Measures taken:\r\n  - Quillfront disabled the compromised agent account",
        "Measures proposed:\r\n  - Quillfront moves all agents",
        "Protection measures in place before the breach:\r\n  - Quillfront agents can only see",
        // advisory severity
        "ENISA SEVERITY (OUR ADVISORY INPUT)\r\nThis is our advisory input as processor, not your risk assessment.",
        "ENISA level: medium",
        "Score: 2 (ENISA-2013: DPC 1 × EI 1 + CB 1)",
        "Ease of identification: maximum (1)",
        // pending, labelled where known
        "STILL BEING ESTABLISHED",
        "  - Approximate number of personal data records (personal_data.records)",
        "  - something.new",
        // contact and closing
        "Name: Privacy Office Werkwijs",
        "Email: privacy@werkwijs.example",
        "Phone: +31 30 233 1330",
        "Please quote our reference BG-2026-0007",
        "notice.jws is its detached JWS signature",
        "This summary (English) is provided for convenience",
    ] {
        assert!(text.contains(expected), "text lacks {expected:?}\n{text}");
    }
    assert!(
        !text.contains("CHANGES SINCE"),
        "an initial notice has no changes"
    );
    assert!(!text.contains('{'), "an unfilled placeholder:\n{text}");

    for expected in [
        "<h2 style=\"font-size:16px;margin:22px 0 6px;padding-bottom:4px;border-bottom:1px solid #cccccc;\">ENISA severity (our advisory input)</h2>",
        ">Our reference</th>",
        ">BG-2026-0007</td>",
        "<li style=\"white-space:pre-wrap;\">Quillfront disabled the compromised agent account",
        "Quillfront Support, Inc.",
    ] {
        assert!(html.contains(expected), "html lacks {expected:?}\n{html}");
    }
}

#[test]
fn html_escapes_staff_text_and_client_names() {
    let mut notice = notice();
    notice.data.summary = "<script>alert('x')</script> & <b>bold</b>".into();
    let mut client = client(Language::En);
    client.name = "Smith & <Sons>".into();
    let rendered =
        render(&notice, FIXTURE.as_bytes(), JWS, &client, &sender(), None).expect("render");
    let (_, text, html) = parts(&rendered);

    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<b>bold"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt; &amp; &lt;b&gt;bold"),
        "{html}"
    );
    assert!(html.contains("Smith &amp; &lt;Sons&gt;"), "{html}");
    // Plain text is shown as written.
    assert!(
        text.contains("Summary: <script>alert('x')</script> & <b>bold</b>"),
        "{text}"
    );
    assert!(subject(&rendered).ends_with("— Smith & <Sons>"));
}

#[test]
fn header_injection_is_refused() {
    let notice = notice();
    let render_for = |client: &ClientAgreement| {
        render(&notice, FIXTURE.as_bytes(), JWS, client, &sender(), None)
    };

    let mut evil = client(Language::En);
    evil.name = "Acme\r\nBcc: x@evil.example".into();
    assert!(matches!(
        render_for(&evil),
        Err(EmailError::UnsafeHeader {
            field: "client name"
        })
    ));

    let mut evil = client(Language::En);
    evil.name = "Acme\nBcc: x@evil.example".into();
    assert!(render_for(&evil).is_err(), "a bare LF is refused too");

    let mut evil = client(Language::En);
    if let Some(email) = evil.delivery.email.as_mut() {
        email.to = vec!["dpo@client.example\r\nBcc: x@evil.example".into()];
    }
    assert!(matches!(
        render_for(&evil),
        Err(EmailError::UnsafeHeader { field: "to" })
    ));

    let mut evil = client(Language::En);
    if let Some(email) = evil.delivery.email.as_mut() {
        email.cc = vec!["dpo@client.example, x@evil.example".into()];
    }
    assert!(matches!(
        render_for(&evil),
        Err(EmailError::BadAddress { field: "cc", .. })
    ));

    let mut evil_notice = notice.clone();
    evil_notice.data.reference = "BG-2026-0007\r\nBcc: x@evil.example".into();
    assert!(matches!(
        render(
            &evil_notice,
            FIXTURE.as_bytes(),
            JWS,
            &client(Language::En),
            &sender(),
            None
        ),
        Err(EmailError::UnsafeHeader { field: "reference" })
    ));

    let hand_built = Sender {
        message_id_domain: "evil.example>\r\nBcc: x@evil.example".into(),
        ..sender()
    };
    assert!(matches!(
        render(
            &notice,
            FIXTURE.as_bytes(),
            JWS,
            &client(Language::En),
            &hand_built,
            None
        ),
        Err(EmailError::BadMessageId {
            field: "message_id_domain"
        })
    ));

    assert!(matches!(
        render(
            &notice,
            FIXTURE.as_bytes(),
            "not\r\na jws",
            &client(Language::En),
            &sender(),
            None
        ),
        Err(EmailError::Attachment("notice.jws"))
    ));

    let mut silent = client(Language::En);
    silent.delivery.email = None;
    assert!(matches!(
        render_for(&silent),
        Err(EmailError::NoEmailDelivery { .. })
    ));
}

#[test]
fn follow_ups_thread_under_the_first_notice_and_list_changes_first() {
    let first = NoticeId::parse("ntc_01JD0000000000000000000001").expect("notice id");
    let rendered = render(
        &update_notice(),
        FIXTURE.as_bytes(),
        JWS,
        &client(Language::En),
        &sender(),
        Some(&first),
    )
    .expect("render");
    assert_eq!(
        subject(&rendered),
        "[BG-2026-0007] Personal data breach notification, update 1 — Consorzio Formazione Emilia"
    );
    let (message, text, _) = parts(&rendered);
    let first_message = "<ntc_01JD0000000000000000000001@mail.werkwijs.example>";
    assert_eq!(message.header("In-Reply-To"), Some(first_message));
    assert_eq!(message.header("References"), Some(first_message));

    for expected in [
        "This is update 1 to our notification BG-2026-0007",
        "Type of notice: Update",
        "Number of this notice in the series: 2",
        "Replaces notice: ntc_01M816N548Q4V7T2W9XBC5DRFH",
        "Approximate number of data subjects (data_subjects.count): 12–19 (approximate) → 40–60 (upper bound)",
        "Special categories (Art. 9 and 10) (personal_data.special_categories): none → data concerning health",
        "Breach ended (occurred.to): none → 2026-11-22 02:40 Europe/Rome (2026-11-22 01:40 UTC)",
    ] {
        assert!(text.contains(expected), "text lacks {expected:?}\n{text}");
    }
    let changes = text
        .find("CHANGES SINCE OUR PREVIOUS NOTICE")
        .expect("changes");
    let timeline = text.find("TIMELINE").expect("timeline");
    assert!(changes < timeline, "changes come before the facts");

    // An update that changed nothing says so.
    let mut unchanged = update_notice();
    unchanged.data.changes.clear();
    let rendered = render_en(&unchanged);
    let (_, text, _) = parts(&rendered);
    assert!(
        text.contains("No facts have changed since our previous notice."),
        "{text}"
    );
}

#[test]
fn final_and_retraction_notices_say_what_they_are() {
    let mut last = notice();
    last.kind = NoticeType::Final;
    last.data.sequence = 3;
    let rendered = render_en(&last);
    assert!(subject(&rendered).contains("notification, final notice —"));
    let (_, text, _) = parts(&rendered);
    assert!(text.contains("This is our final notice on the personal data breach BG-2026-0007"));
    assert!(text.contains("72 hours"));

    let mut withdrawn = notice();
    withdrawn.kind = NoticeType::Retraction;
    withdrawn.data.sequence = 2;
    let rendered = render_en(&withdrawn);
    assert_eq!(
        subject(&rendered),
        "[BG-2026-0007] Retraction of personal data breach notification — Consorzio Formazione Emilia"
    );
    let (_, text, _) = parts(&rendered);
    assert!(text.contains("withdraw our notification BG-2026-0007"));
    assert!(
        !text.contains("72 hours"),
        "no assessment duty for a retraction"
    );
    assert!(!text.contains("SEVERITY"));
    assert!(text.contains("Type of notice: Retraction"));
    assert!(text.contains("OUR CONTACT FOR THIS BREACH"));
}

#[test]
fn every_language_renders_in_its_own_words() {
    let cases = [
        (
            Language::En,
            "Personal data breach notification —",
            "as controller",
            "confidentiality",
            "Initial notice",
        ),
        (
            Language::Nl,
            "Melding van een inbreuk in verband met persoonsgegevens (datalek) —",
            "verwerkingsverantwoordelijke",
            "vertrouwelijkheid",
            "Eerste melding",
        ),
        (
            Language::Fr,
            "Notification d'une violation de données à caractère personnel —",
            "responsable du traitement",
            "confidentialité",
            "Notification initiale",
        ),
        (
            Language::It,
            "Comunicazione al titolare di violazione dei dati personali —",
            "titolare del trattamento",
            "riservatezza",
            "Comunicazione iniziale",
        ),
        (
            Language::Sv,
            "Underrättelse om personuppgiftsincident —",
            "personuppgiftsansvarig",
            "konfidentialitet",
            "Första underrättelse",
        ),
        (
            Language::De,
            "Meldung einer Verletzung des Schutzes personenbezogener Daten —",
            "Verantwortlichem",
            "Vertraulichkeit",
            "Erstmeldung",
        ),
    ];
    assert_eq!(cases.len(), Language::ALL.len());
    for (language, subject_text, role, nature, kind) in cases {
        let rendered = render(
            &update_notice(),
            FIXTURE.as_bytes(),
            JWS,
            &client(language),
            &sender(),
            None,
        )
        .expect("render");
        let (_, text, html) = parts(&rendered);
        assert!(
            subject(&rendered).contains(&subject_text.replace(" —", ",")),
            "{language:?}: {}",
            subject(&rendered)
        );
        assert!(html.contains(&format!("lang=\"{}\"", language.as_str())));
        assert!(
            !text.contains('{'),
            "{language:?}: unfilled placeholder\n{text}"
        );
        assert!(text.contains(nature), "{language:?} lacks {nature:?}");
        let initial = render(
            &notice(),
            FIXTURE.as_bytes(),
            JWS,
            &client(language),
            &sender(),
            None,
        )
        .expect("render");
        assert!(
            subject(&initial).contains(subject_text),
            "{language:?}: {}",
            subject(&initial)
        );
        let (_, text, _) = parts(&initial);
        assert!(text.contains(role), "{language:?} lacks {role:?}\n{text}");
        assert!(text.contains(kind), "{language:?} lacks {kind:?}");
        // Staff free text stays as written.
        assert!(
            text.contains("An attacker obtained the password"),
            "{language:?}"
        );
    }
}

fn file_config(dir: &std::path::Path) -> EmailConfig {
    EmailConfig {
        transport: TransportKind::File,
        from: "breach-notices@werkwijs.example".into(),
        message_id_domain: "mail.werkwijs.example".into(),
        file_dir: dir.to_path_buf(),
        host: "localhost".into(),
        port: 587,
        tls: TlsMode::StartTls,
        username: String::new(),
        password: None,
        pool_size: 2,
        timeout_seconds: 5,
    }
}

fn smtp_config(port: u16, timeout_seconds: u64) -> EmailConfig {
    EmailConfig {
        transport: TransportKind::Smtp,
        host: "127.0.0.1".into(),
        port,
        tls: TlsMode::None,
        timeout_seconds,
        ..file_config(std::path::Path::new("unused"))
    }
}

#[tokio::test]
async fn file_transport_writes_a_parseable_eml_with_the_exact_notice_bytes() {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("data").join("mail");
    let transport = MailTransport::new(&file_config(&dir)).expect("file transport");
    assert!(dir.is_dir(), "the mail directory is created");

    let bytes = fragile_bytes();
    let rendered = render(
        &notice(),
        &bytes,
        JWS,
        &client(Language::Nl),
        &sender(),
        None,
    )
    .expect("render");
    transport.send(&rendered.message).await.expect("written");

    let files: Vec<_> = std::fs::read_dir(&dir)
        .expect("read dir")
        .map(|entry| entry.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let eml = Part::parse(&std::fs::read(&files[0]).expect("read eml"));
    assert_eq!(
        eml.header("Message-ID"),
        Some(format!("<{}>", rendered.message_id).as_str())
    );
    assert_eq!(
        eml.find_file("notice.json").expect("notice.json").decoded(),
        bytes
    );
    assert_eq!(
        eml.find_file("notice.jws")
            .expect("notice.jws")
            .decoded_text()
            .trim_end(),
        JWS
    );
    let text = eml.find_type("text/plain").expect("text").decoded_text();
    assert!(
        text.contains("Categorieën betrokkenen: studenten, werknemers"),
        "{text}"
    );
}

#[tokio::test]
async fn smtp_delivers_and_classifies_rejections() {
    let (addr, sink) = SmtpSink::start().await;
    let transport = MailTransport::new(&smtp_config(addr.port(), 5)).expect("smtp transport");

    let bytes = fragile_bytes();
    let mut notice = notice();
    // A line starting with a dot must be dot-stuffed on the wire and restored.
    notice.data.summary = "First line.\n.second line starts with a dot".into();
    let rendered =
        render(&notice, &bytes, JWS, &client(Language::En), &sender(), None).expect("render");
    transport.send(&rendered.message).await.expect("accepted");

    let received = sink.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].mail_from, "breach-notices@werkwijs.example");
    let mut rcpt = received[0].rcpt_to.clone();
    rcpt.sort();
    assert_eq!(
        rcpt,
        [
            "archivio@consorzio-formazione-emilia.example",
            "privacy@consorzio-formazione-emilia.example",
            "rpd@consorzio-formazione-emilia.example",
        ]
    );
    let mail = Part::parse(&received[0].data);
    assert_eq!(
        mail.find_file("notice.json")
            .expect("notice.json")
            .decoded(),
        bytes
    );
    let text = mail.find_type("text/plain").expect("text").decoded_text();
    assert!(
        text.contains("First line.\r\n.second line starts with a dot"),
        "{text}"
    );

    sink.set_rcpt_reply(550, "5.1.1 mailbox unavailable");
    let error = transport
        .send(&rendered.message)
        .await
        .expect_err("rejected");
    assert!(error.permanent, "{error:?}");
    assert!(error.message.contains("550"), "{error:?}");
    assert!(error.message.contains("mailbox unavailable"), "{error:?}");

    sink.set_rcpt_reply(451, "4.7.1 greylisted, try again later");
    let error = transport
        .send(&rendered.message)
        .await
        .expect_err("deferred");
    assert!(!error.permanent, "{error:?}");
    assert!(error.message.contains("451"), "{error:?}");

    sink.set_rcpt_reply(250, "2.1.5 ok");
    transport
        .send(&rendered.message)
        .await
        .expect("accepted again");
    assert_eq!(sink.count(), 2);
}

#[tokio::test]
async fn unreachable_or_silent_servers_are_transient() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let rendered = render(
        &notice(),
        FIXTURE.as_bytes(),
        JWS,
        &client(Language::En),
        &sender(),
        None,
    )
    .expect("render");

    let transport = MailTransport::new(&smtp_config(port, 5)).expect("transport");
    let error = transport
        .send(&rendered.message)
        .await
        .expect_err("refused");
    assert!(!error.permanent, "{error:?}");

    // Accepts the connection and never greets: lettre alone would wait for
    // ever, the transport gives up after timeout_seconds.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let hold = tokio::spawn(async move {
        let (_stream, _) = silent.accept().await.expect("accept");
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    });
    let transport = MailTransport::new(&smtp_config(port, 1)).expect("transport");
    let started = std::time::Instant::now();
    let error = transport
        .send(&rendered.message)
        .await
        .expect_err("timed out");
    assert!(!error.permanent, "{error:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{error:?}"
    );
    hold.abort();
}

/// The fixture notice with some of its `data` replaced, as JSON so the test
/// reads in the schema's words.
fn notice_with(data: serde_json::Value) -> Notice {
    let mut value: serde_json::Value = serde_json::from_str(FIXTURE).expect("fixture");
    for (key, field) in data.as_object().expect("object") {
        value["data"][key] = field.clone();
    }
    serde_json::from_value(value).expect("notice")
}

/// The fixture notice about one category of personal data.
fn notice_with_data_category(category: &str) -> Notice {
    notice_with(json!({"personal_data": {
        "categories": [category], "special_categories": [],
        "records": {"min": 1, "max": 1, "precision": "exact"}, "unintelligible": false
    }}))
}

fn text_for(notice: &Notice, client: &ClientAgreement) -> (String, String) {
    let rendered =
        render(notice, FIXTURE.as_bytes(), JWS, client, &sender(), None).expect("render");
    let (_, text, _) = parts(&rendered);
    (subject(&rendered).to_owned(), text)
}

/// Fails naming the first of `expected` that `text` lacks, with the text.
fn assert_has_all(text: &str, expected: &[&str]) {
    for expected in expected {
        assert!(text.contains(expected), "lacks {expected:?}\n{text}");
    }
}

/// The lines of one text section, from its heading to the next blank line.
fn section<'t>(text: &'t str, heading: &str) -> &'t str {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading}\n{text}"));
    let rest = &text[start..];
    &rest[..rest.find("\r\n\r\n").unwrap_or(rest.len())]
}

#[test]
fn the_checklist_shows_every_art_33_3_item_known_when_nothing_is_pending() {
    let (_, text) = text_for(&notice(), &client(Language::En));
    let checklist = section(&text, "ART. 33(3) CHECKLIST");
    assert_has_all(
        checklist,
        &[
        "(a) Nature of the breach, categories and approximate numbers of data subjects and of personal data records: known (in this notice)",
        "(b) Contact point (data protection officer or other): yours to give: your own data protection officer or other contact point",
        "(c) Likely consequences: known (in this notice)",
        "(d) Measures taken or proposed, including to mitigate adverse effects: known (in this notice)",
        ],
    );
    assert!(!checklist.contains("pending"), "{checklist}");
    // Before the facts, after the notice's identity.
    assert!(text.find("ART. 33(3) CHECKLIST") < text.find("TIMELINE"));
}

#[test]
fn the_checklist_names_the_pending_facts_of_each_item() {
    let open = notice_with(json!({
        "pending": ["data_subjects.count", "personal_data.categories"],
        "likely_consequences": [],
        "measures": {"taken": ["Account disabled"], "proposed": []}
    }));
    let (_, text) = text_for(&open, &client(Language::En));
    let checklist = section(&text, "ART. 33(3) CHECKLIST");
    assert_has_all(
        checklist,
        &[
        "personal data records: pending: Approximate number of data subjects (data_subjects.count); Categories of personal data (personal_data.categories)",
        "(c) Likely consequences: pending: Likely consequences for the data subjects (likely_consequences)",
        "(d) Measures taken or proposed, including to mitigate adverse effects: known (in this notice)",
        "(b) Contact point (data protection officer or other): yours to give",
        ],
    );

    let no_measures = notice_with(json!({"measures": {"taken": [], "proposed": []}}));
    let (_, text) = text_for(&no_measures, &client(Language::En));
    assert!(
        section(&text, "ART. 33(3) CHECKLIST")
            .contains("mitigate adverse effects: pending: Measures taken (measures)"),
        "{text}"
    );

    let mut withdrawn = notice();
    withdrawn.kind = NoticeType::Retraction;
    let (_, text) = text_for(&withdrawn, &client(Language::En));
    assert!(
        !text.contains("CHECKLIST"),
        "a retraction has nothing to file"
    );
}

#[test]
fn times_are_in_the_clients_zone_beside_utc_and_the_controllers_72_hours_are_its_own() {
    let (_, text) = text_for(&notice(), &client(Language::En));
    let timeline = section(&text, "TIMELINE");
    assert!(
        timeline.contains("Times are shown in your time zone (Europe/Rome) and in UTC."),
        "{timeline}"
    );
    assert!(
        timeline.contains("Your own 72 hours (Art. 33(1)) run from when you became aware of the breach: at the latest, from your receipt of this notice."),
        "{timeline}"
    );

    // Summer time where the zone has it.
    let summer = notice_with(json!({"became_aware_at": "2026-07-01T07:30:00Z"}));
    let mut amsterdam = client(Language::En);
    amsterdam.time_zone = "Europe/Amsterdam".into();
    let (_, text) = text_for(&summer, &amsterdam);
    assert!(
        text.contains(
            "We became aware on: 2026-07-01 09:30 Europe/Amsterdam (2026-07-01 07:30 UTC)"
        ),
        "{text}"
    );

    // A client in UTC gets each time once.
    let mut utc = client(Language::En);
    utc.time_zone = "UTC".into();
    let (_, text) = text_for(&notice(), &utc);
    assert!(
        text.contains("We became aware on: 2026-11-22 07:30 UTC\r\n"),
        "{text}"
    );
    assert!(text.contains("Times are shown in UTC."), "{text}");
}

#[test]
fn the_email_claims_only_the_processor_side_of_art_33_3() {
    let (_, text) = text_for(&notice(), &client(Language::En));
    assert!(
        !text.contains("the information listed in Art. 33(3)"),
        "{text}"
    );
    assert!(
        text.contains("This notice carries the facts on our side, as processor, for Art. 33(3)(a), (c) and (d), as far as they are known; the contact point of Art. 33(3)(b) is your own."),
        "{text}"
    );
    for language in Language::ALL {
        let (_, text) = text_for(&notice(), &client(*language));
        for old in [
            "information listed in Art. 33(3)",
            "de informatie van artikel 33, lid 3,",
            "informations prévues à l'article 33, paragraphe 3,",
            "informazioni di cui all'articolo 33, paragrafo 3,",
            "uppgifter som anges i artikel 33.3,",
            "Informationen nach Art. 33 Abs. 3,",
        ] {
            assert!(!text.contains(old), "{language:?} still claims {old:?}");
        }
    }
}

#[test]
fn the_enisa_block_is_advisory_and_lists_the_assumed_inputs() {
    let (_, text) = text_for(&notice(), &client(Language::En));
    let severity = section(&text, "ENISA SEVERITY (OUR ADVISORY INPUT)");
    assert!(
        severity.contains("not your risk assessment")
            && severity.contains("you assess the risk to the data subjects yourself"),
        "{severity}"
    );
    assert!(severity.contains("Assumed inputs: none"), "{severity}");

    let mut assumed = notice_with(json!({"pending": ["personal_data.categories"]}));
    assumed.data.severity.ei = 0.75;
    assumed.data.severity.assumed = vec![
        AssumedInput::PersonalDataCategories,
        AssumedInput::EaseOfIdentification,
    ];
    let (_, text) = text_for(&assumed, &client(Language::En));
    let severity = section(&text, "ENISA SEVERITY (OUR ADVISORY INPUT)");
    assert_has_all(
        severity,
        &[
        "ENISA level: pending, as the categories of personal data are not yet known (provisional: medium)",
        "Ease of identification: significant (0.75)",
        "Assumed inputs:\r\n  - categories of personal data: not yet known, taken from the agreement\r\n  - ease of identification: not given, assumed significant",
        ],
    );
}

/// Renders for a client in `language` and checks that `new` replaced `old`.
fn assert_term(language: Language, notice: &Notice, new: &str, old: &str) {
    let (subject, text) = text_for(notice, &client(language));
    let all = format!("{subject}\n{text}");
    assert!(all.contains(new), "{language:?} lacks {new:?}\n{all}");
    assert!(!all.contains(old), "{language:?} still has {old:?}\n{all}");
}

#[test]
fn italian_informs_the_controller_rather_than_notifying_it() {
    assert_term(
        Language::It,
        &notice(),
        "Vi informiamo, Consorzio",
        "notifichiamo",
    );
}

#[test]
fn italian_calls_our_notice_a_comunicazione_al_titolare() {
    assert_term(
        Language::It,
        &notice(),
        "Comunicazione al titolare di violazione",
        "Notifica",
    );
}

#[test]
fn italian_national_identifier() {
    let notice = notice_with_data_category("national_identifier");
    assert_term(
        Language::It,
        &notice,
        "numero di identificazione nazionale",
        "codice identificativo nazionale",
    );
}

#[test]
fn dutch_subject_says_datalek() {
    let (subject, _) = text_for(&notice(), &client(Language::Nl));
    assert!(
        subject.contains("persoonsgegevens (datalek) —"),
        "{subject}"
    );
}

#[test]
fn dutch_nature_of_the_incident() {
    assert_term(
        Language::Nl,
        &notice(),
        "Aard van het incident:",
        "Aard van de inbreuk",
    );
}

#[test]
fn french_parents() {
    let notice = notice_with(json!({"data_subjects": {
        "categories": ["parents"], "count": {"min": 1, "max": 2, "precision": "approximate"},
        "children": false, "vulnerable": false
    }}));
    assert_term(
        Language::Fr,
        &notice,
        "Catégories de personnes concernées: parents\r\n",
        "parents d'élèves",
    );
}

#[test]
fn french_loss_of_control() {
    let notice = notice_with(json!({"likely_consequences": ["loss_of_control"]}));
    assert_term(
        Language::Fr,
        &notice,
        "perte de contrôle sur leurs données",
        "perte de maîtrise",
    );
}

#[test]
fn french_reversal_of_pseudonymisation() {
    let notice = notice_with(json!({"likely_consequences": ["reidentification"]}));
    assert_term(
        Language::Fr,
        &notice,
        "renversement non autorisé de la procédure de pseudonymisation",
        "levée non autorisée",
    );
}

#[test]
fn swedish_unreadable() {
    assert_term(Language::Sv, &notice(), "oläsbara", "obegripliga");
}

#[test]
fn german_inaccessible() {
    assert_term(Language::De, &notice(), "unzugänglich", "unverständlich");
}

#[test]
fn german_social_welfare_data() {
    let notice = notice_with_data_category("social_welfare");
    assert_term(
        Language::De,
        &notice,
        "Daten zu Sozialleistungen",
        "Sozialdaten",
    );
}

/// The fixture notice with the facts of issue 12 items 1, 2 and 4 that the
/// email shows: count bases, the group of data subjects in words, a reported
/// category the agreement does not list, the service impact and the contact
/// with the data subjects.
fn notice_with_client_facts() -> Notice {
    notice_with(json!({
        "data_subjects": {
            "categories": ["students", "other"],
            "count": {"min": 0, "max": 19, "precision": "upper_bound", "basis": "share_of_incident_total"},
            "children": false, "vulnerable": false,
            "description": "Course participants and their external tutors"
        },
        "personal_data": {
            "categories": ["identification", "online_identifiers"],
            "special_categories": [],
            "records": {"min": 19, "max": 19, "precision": "exact", "basis": "client_specific"},
            "unintelligible": false,
            "unexpected_categories": ["online_identifiers"]
        },
        "service_impact": {
            "availability": "degraded", "data_restored": "partially",
            "expected_recovery_at": "2026-03-04T16:00:00Z"
        },
        "data_subjects_contacted": {
            "status": "contacted", "contacted_at": "2026-03-03T09:30:00Z",
            "channel": "email", "count": 19
        }
    }))
}

#[test]
fn the_email_shows_count_bases_description_unexpected_categories_service_impact_and_contact() {
    let (_, text) = text_for(&notice_with_client_facts(), &client(Language::En));
    let subjects = section(&text, "DATA SUBJECTS");
    assert_has_all(
        subjects,
        &[
        "Description of the data subjects: Course participants and their external tutors",
        "Approximate number of data subjects: 0–19 (upper bound); the incident's total; your share is not known",
        "Data subjects contacted by us: contacted (2026-03-03 10:30 Europe/Rome (2026-03-03 09:30 UTC), email, 19 data subjects)",
        ],
    );
    let personal = section(&text, "PERSONAL DATA");
    assert_has_all(
        personal,
        &[
        "Reported categories your agreement does not list: online identifiers",
        "Approximate number of personal data records: 19 (exact); established for your organisation",
        ],
    );
    let impact = section(&text, "IMPACT ON THE SERVICE");
    assert_has_all(
        impact,
        &[
            "Availability of the service: degraded",
            "Data restored: partially",
            "Expected recovery: 2026-03-04 17:00 Europe/Rome (2026-03-04 16:00 UTC)",
        ],
    );

    // In the client's language, every new value too.
    let (_, text) = text_for(&notice_with_client_facts(), &client(Language::It));
    assert_has_all(
        &text,
        &[
            "Descrizione degli interessati: Course participants and their external tutors",
            "totale dell'incidente; la vostra quota non è nota",
            "accertato per la vostra organizzazione",
            "Categorie segnalate non previste dal vostro accordo: ",
            "Disponibilità del servizio: degradato",
            "Dati ripristinati: in parte",
            "Interessati contattati da noi: contattati (",
            "19 interessati",
        ],
    );

    // The notice itself is valid v1.
    let dir = crate::support::test_dir();
    let file = dir.path().join("client-facts.json");
    std::fs::write(
        &file,
        serde_json::to_vec(&notice_with_client_facts()).unwrap(),
    )
    .unwrap();
    crate::independent_verifiers::python("validate_notices.py", &[file.to_str().unwrap()]);

    // Absent facts add no rows.
    let (_, text) = text_for(&notice(), &client(Language::En));
    for absent in [
        "IMPACT ON THE SERVICE",
        "Description of the data subjects",
        "does not list",
        "Data subjects contacted",
        "your share",
    ] {
        assert!(!text.contains(absent), "{absent:?}\n{text}");
    }
}

#[test]
fn the_checklist_holds_a_back_while_a_count_basis_is_unknown_and_counts_service_impact_for_d() {
    let unknown = notice_with(json!({
        "data_subjects": {
            "categories": ["students"],
            "count": {"min": 0, "max": 0, "precision": "upper_bound", "basis": "unknown"},
            "children": false, "vulnerable": false
        },
        "pending": ["data_subjects.count"],
        "measures": {"taken": [], "proposed": []},
        "service_impact": {"availability": "unavailable"}
    }));
    let (_, text) = text_for(&unknown, &client(Language::En));
    let checklist = section(&text, "ART. 33(3) CHECKLIST");
    assert_has_all(
        checklist,
        &[
        // Named once, although both pending and of unknown basis.
        "personal data records: pending: Approximate number of data subjects (data_subjects.count)\r\n",
        "(d) Measures taken or proposed, including to mitigate adverse effects: known (in this notice)",
        ],
    );

    // Unknown records, not marked pending, still hold (a) back.
    let mut records = notice();
    records.data.personal_data.records.basis = Some(breachgate::domain::CountBasis::Unknown);
    let (_, text) = text_for(&records, &client(Language::En));
    assert!(
        section(&text, "ART. 33(3) CHECKLIST").contains(
            "personal data records: pending: Approximate number of personal data records (personal_data.records)"
        ),
        "{text}"
    );
}

const PUBLIC_URL: &str = "https://breach.werkwijs.example";

/// The portal link's href in an HTML part, unescaped.
fn portal_hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(|href| href.replace("&#x2f;", "/").replace("&amp;", "&"))
        .filter(|href| href.contains("/portal/"))
        .collect()
}

#[test]
fn every_language_links_each_notice_to_its_portal_page() {
    let portal = Portal::new(PUBLIC_URL).expect("a portal");
    let linking = sender().linking_to(Some(portal));
    for language in Language::ALL {
        for notice in [notice(), update_notice()] {
            let rendered = render(
                &notice,
                FIXTURE.as_bytes(),
                JWS,
                &client(*language),
                &linking,
                None,
            )
            .expect("render");
            let (_, text, html) = parts(&rendered);
            let url = format!("{PUBLIC_URL}/portal/notices/{}", notice.data.notice_id);
            assert!(text.contains(&url), "{language:?}\n{text}");
            assert_eq!(
                portal_hrefs(&html),
                vec![url.as_str()],
                "{language:?}\n{html}"
            );
            // The sentence before the link is the language's own.
            let line_before = text
                .lines()
                .take_while(|l| *l != url)
                .last()
                .expect("a sentence before the link");
            assert!(line_before.ends_with(':'), "{language:?}: {line_before}");
            if *language != Language::En {
                assert!(!line_before.contains("client portal"), "{language:?}");
            }
        }
    }
}

#[test]
fn without_a_public_url_an_email_has_no_portal_link() {
    let (_, text, html) = parts(&render_en(&notice()));
    assert!(!text.contains("/portal/"), "{text}");
    assert!(portal_hrefs(&html).is_empty(), "{html}");
}

/// The keys to verify notice.jws with, named where a reader away from the
/// gateway can fetch them: absolute when `server.public_url` is set.
#[test]
fn every_language_names_the_jwks_by_its_absolute_url_when_the_gateway_has_a_public_url() {
    let jwks = format!("{PUBLIC_URL}/.well-known/jwks.json");
    let linking = sender().linking_to(Some(Portal::new(PUBLIC_URL).expect("a portal")));
    for language in Language::ALL {
        let client = client(*language);
        let rendered =
            render(&notice(), FIXTURE.as_bytes(), JWS, &client, &linking, None).expect("render");
        let (_, text, html) = parts(&rendered);
        let closing = text
            .lines()
            .find(|line| line.contains("notice.jws"))
            .expect("the closing sentence on notice.jws");
        assert!(closing.contains(&jwks), "{language:?}: {closing}");
        assert!(
            html.replace("&#x2f;", "/").contains(&jwks),
            "{language:?}\n{html}"
        );

        let rendered =
            render(&notice(), FIXTURE.as_bytes(), JWS, &client, &sender(), None).expect("render");
        let (_, text, _) = parts(&rendered);
        let closing = text
            .lines()
            .find(|line| line.contains("notice.jws"))
            .expect("the closing sentence on notice.jws");
        assert!(
            closing.contains(" /.well-known/jwks.json"),
            "without a public address, the path alone: {language:?}: {closing}"
        );
        assert!(!closing.contains("{jwks}"), "{language:?}: {closing}");
    }
}

#[test]
fn a_portal_needs_an_http_url_without_a_trailing_slash() {
    for bad in [
        "breach.werkwijs.example",
        "ftp://breach.werkwijs.example",
        "https://breach.werkwijs.example/",
    ] {
        assert!(Portal::new(bad).is_err(), "{bad}");
    }
}

/// Through a gateway whose `server.public_url` is set: every notice email
/// the SMTP sink receives, the first and the update, links to the page of
/// the notice it carries.
#[tokio::test]
async fn notice_emails_through_smtp_link_to_their_own_notice_s_portal_page() {
    let (smtp, sink) = SmtpSink::start().await;
    let receiver = crate::support::receiver::Receiver::start().await;
    let dir = crate::support::test_dir();
    let mut config = crate::support::delivery_config(dir.path(), &receiver.base, smtp);
    config.server.public_url = PUBLIC_URL.into();
    let gateway = crate::support::Gateway::start_with(config).await;
    let worker = gateway
        .app
        .worker(std::sync::Arc::new(breachgate::clock::SystemClock))
        .expect("worker");
    let (status, filed) = gateway
        .post_report(&gateway.staff, &crate::support::fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201, "{filed}");
    worker.run_once().await.expect("delivered");
    let first = sink.count();
    assert!(first > 0, "the report's emails arrived");

    let incident = filed["incident_id"].as_str().expect("incident id");
    let update = gateway
        .http
        .post(gateway.url(&format!("/v1/incidents/{incident}/updates")))
        .bearer_auth(&gateway.staff)
        .json(&json!({"summary": "The bucket was public for a day; it is closed now."}))
        .send()
        .await
        .expect("update");
    assert_eq!(update.status(), 201);
    worker.run_once().await.expect("delivered");
    let received = sink.received();
    assert!(received.len() > first, "the update's emails arrived");

    let mut kinds = std::collections::BTreeSet::new();
    for mail in &received {
        let message = Part::parse(&mail.data);
        let notice: Notice = message.notice();
        kinds.insert(notice.kind);
        let url = format!("{PUBLIC_URL}/portal/notices/{}", notice.data.notice_id);
        let text = message
            .find_type("text/plain")
            .expect("text")
            .decoded_text();
        let html = message.find_type("text/html").expect("html").decoded_text();
        assert!(text.contains(&url), "{text}");
        assert_eq!(portal_hrefs(&html), [url]);
    }
    assert!(kinds.contains(&NoticeType::Initial) && kinds.contains(&NoticeType::Update));
    gateway.stop().await;
}
