//! Which network an IP address belongs to, in the words the SSRF rules use:
//! public, or loopback, private, link-local, cloud metadata and the like.
//! The delivery guard judges each resolved address with it; the agreement
//! checks judge the address literals a webhook URL names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv6 forms that reach an IPv4 host are judged as that IPv4 address, or
/// `::ffff:10.0.0.1` would slip past the private ranges.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            // NAT64 well-known prefix 64:ff9b::/96 (RFC 6052).
            let bits = u128::from(v6);
            if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
                return IpAddr::V4(Ipv4Addr::from(bits as u32));
            }
            ip
        }
        IpAddr::V4(_) => ip,
    }
}

/// Why `ip` may never be a webhook target, whatever the allow-list or an
/// agreement's `local_testing` says: cloud metadata and link-local
/// addresses reach the gateway's own host and link, never a client's
/// receiver. Agreements naming one are refused when they are checked.
pub fn metadata_or_link_local(ip: IpAddr) -> Option<&'static str> {
    let ip = canonical(ip);
    if is_cloud_metadata(ip) {
        Some("cloud metadata")
    } else if is_link_local(ip) {
        Some("link-local")
    } else {
        None
    }
}

/// 169.254.0.0/16 and fe80::/10; `ip` already canonical.
fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
    }
}

/// The cloud metadata services' addresses (AWS, GCP and Azure use
/// 169.254.169.254; AWS also fd00:ec2::254); `ip` already canonical.
pub fn is_cloud_metadata(ip: IpAddr) -> bool {
    const AWS_IPV6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
    ip == IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)) || ip == IpAddr::V6(AWS_IPV6)
}

/// Why `ip` (already canonical) is not a public unicast address, if it is not.
pub fn non_public_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if a == 0 {
                // 0.0.0.0/8 "this network": 0.0.0.0 reaches localhost on Linux.
                Some("unspecified")
            } else if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_private() {
                Some("private")
            } else if is_link_local(ip) {
                Some("link-local")
            } else if a == 100 && (b & 0xc0) == 64 {
                Some("shared (CGNAT)")
            } else if v4.is_multicast() {
                Some("multicast")
            } else if v4.is_broadcast() {
                Some("broadcast")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unique_local() || (first & 0xffc0) == 0xfec0 {
                // fc00::/7, and the deprecated site-local fec0::/10.
                Some("private")
            } else if is_link_local(ip) {
                Some("link-local")
            } else if v6.is_multicast() {
                Some("multicast")
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    #[test]
    fn metadata_and_link_local_in_every_spelling_are_never_targets() {
        for (addr, kind) in [
            ("169.254.169.254", "cloud metadata"),
            ("::ffff:169.254.169.254", "cloud metadata"),
            ("64:ff9b::a9fe:a9fe", "cloud metadata"),
            ("fd00:ec2::254", "cloud metadata"),
            ("169.254.0.1", "link-local"),
            ("::ffff:169.254.10.1", "link-local"),
            ("fe80::1", "link-local"),
            ("febf:ffff::1", "link-local"),
        ] {
            assert_eq!(metadata_or_link_local(ip(addr)), Some(kind), "{addr}");
        }
        for addr in [
            "127.0.0.1",
            "10.0.0.1",
            "169.255.0.1",
            "fec0::1",
            "93.184.215.14",
        ] {
            assert_eq!(metadata_or_link_local(ip(addr)), None, "{addr}");
        }
    }
}
