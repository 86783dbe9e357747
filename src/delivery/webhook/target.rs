//! Which addresses a webhook may reach. A client's endpoint URL is outside
//! our control, so a hostname that resolves into our own network (loopback,
//! private ranges, cloud metadata) would turn the gateway into a proxy for
//! whoever writes that URL. Only allow-listed networks are exempt.

use std::error::Error as StdError;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

use crate::domain::address::{canonical, is_cloud_metadata, non_public_kind};

/// An IP network in CIDR notation (`10.0.0.0/8`); a bare address is just that address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IpNet {
    network: IpAddr,
    prefix: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IpNetError {
    #[error("{0:?} is not an IP address or network (a.b.c.d, a.b.c.d/n, or IPv6)")]
    Syntax(String),
    #[error("prefix /{prefix} is too long for {network}")]
    Prefix { network: IpAddr, prefix: u8 },
}

impl IpNet {
    /// The network containing `addr` with `prefix` leading bits; host bits are dropped.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, IpNetError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(IpNetError::Prefix {
                network: addr,
                prefix,
            });
        }
        // A mapped IPv6 network is stored as IPv4 so it matches the addresses
        // `contains` canonicalises the same way.
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if prefix >= 96 => match v6.to_ipv4_mapped() {
                Some(v4) => (IpAddr::V4(v4), prefix - 96),
                None => (addr, prefix),
            },
            _ => (addr, prefix),
        };
        let network = match addr {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask_v4(prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask_v6(prefix))),
        };
        Ok(Self { network, prefix })
    }

    /// Whether `ip` (IPv4-mapped IPv6 counted as IPv4) lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                u32::from(ip) & mask_v4(self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                u128::from(ip) & mask_v6(self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

fn mask_v4(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask_v6(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for IpNet {
    type Err = IpNetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let syntax = || IpNetError::Syntax(text.to_owned());
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
        let prefix = match prefix {
            Some(prefix) => prefix.parse().map_err(|_| syntax())?,
            None if addr.is_ipv4() => 32,
            None => 128,
        };
        Self::new(addr, prefix)
    }
}

impl TryFrom<String> for IpNet {
    type Error = IpNetError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<IpNet> for String {
    fn from(net: IpNet) -> Self {
        net.to_string()
    }
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// A target address we will not connect to.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{addr} is a {kind} address and not allow-listed")]
pub(super) struct RefusedAddress {
    pub addr: IpAddr,
    pub kind: &'static str,
}

/// The SSRF rule: public addresses, plus the configured allow-list.
#[derive(Debug, Default)]
pub(super) struct TargetPolicy {
    allowed_private: Vec<IpNet>,
}

impl TargetPolicy {
    pub fn new(allowed_private: Vec<IpNet>) -> Self {
        Self { allowed_private }
    }

    pub fn check(&self, addr: IpAddr) -> Result<(), RefusedAddress> {
        let refused = |kind| Err(RefusedAddress { addr, kind });
        let ip = canonical(addr);
        // Instance credentials live there; no allow-list entry reopens it.
        if is_cloud_metadata(ip) {
            return refused("cloud metadata");
        }
        match non_public_kind(ip) {
            Some(kind) if !self.allowed_private.iter().any(|net| net.contains(ip)) => refused(kind),
            _ => Ok(()),
        }
    }
}

/// Resolves a hostname and hands the connector only addresses that pass the
/// policy, so the address checked is the address connected to (no window for
/// DNS rebinding between the two).
#[derive(Debug, Clone)]
pub(super) struct VettingResolver {
    policy: Arc<TargetPolicy>,
}

impl VettingResolver {
    pub fn new(policy: Arc<TargetPolicy>) -> Self {
        Self { policy }
    }
}

type Resolving = Pin<
    Box<
        dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, Box<dyn StdError + Send + Sync>>>
            + Send,
    >,
>;

impl tower_service::Service<Name> for VettingResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    // Boxed as is, so the client can find a RefusedAddress in the error's sources.
    type Error = Box<dyn StdError + Send + Sync>;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = Arc::clone(&self.policy);
        Box::pin(async move {
            // Port 0: the connector fills in the URL's port.
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            // Any bad address refuses the whole name: a name that mixes public
            // and internal answers is the rebinding trick itself.
            for addr in &addrs {
                policy.check(addr.ip())?;
            }
            Ok(addrs.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    fn net(text: &str) -> IpNet {
        text.parse().expect("a network")
    }

    #[test]
    fn refuses_every_non_public_range() {
        let policy = TargetPolicy::default();
        for (addr, kind) in [
            ("127.0.0.1", "loopback"),
            ("127.8.9.10", "loopback"),
            ("10.0.0.1", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("169.254.1.1", "link-local"),
            ("169.254.169.254", "cloud metadata"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("100.127.255.254", "shared (CGNAT)"),
            ("0.0.0.0", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("fc00::1", "private"),
            ("fd12:3456::1", "private"),
            ("fd00:ec2::254", "cloud metadata"),
            ("fe80::1", "link-local"),
            ("fec0::1", "private"),
            ("ff02::1", "multicast"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:169.254.169.254", "cloud metadata"),
            ("64:ff9b::a00:1", "private"),
        ] {
            let refused = policy.check(ip(addr)).expect_err(addr);
            assert_eq!(refused.kind, kind, "{addr}");
        }
    }

    #[test]
    fn allows_public_addresses() {
        let policy = TargetPolicy::default();
        for addr in [
            "93.184.215.14",
            "172.32.0.1",
            "100.128.0.1",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
        ] {
            assert_eq!(policy.check(ip(addr)), Ok(()), "{addr}");
        }
    }

    #[test]
    fn allow_list_exempts_private_but_never_metadata() {
        let policy = TargetPolicy::new(vec![
            net("127.0.0.1"),
            net("10.1.0.0/16"),
            net("169.254.0.0/16"),
        ]);
        assert_eq!(policy.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("10.1.200.3")), Ok(()));
        assert_eq!(policy.check(ip("169.254.1.1")), Ok(()));
        assert!(policy.check(ip("127.0.0.2")).is_err());
        assert!(policy.check(ip("10.2.0.1")).is_err());
        assert!(policy.check(ip("169.254.169.254")).is_err());
    }

    #[test]
    fn parses_addresses_and_networks() {
        assert_eq!(net("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(net(" 192.168.0.7 ").to_string(), "192.168.0.7/32");
        assert_eq!(net("fd00::1/8").to_string(), "fd00::/8");
        assert_eq!(net("::1").to_string(), "::1/128");
        assert_eq!(net("::ffff:10.0.0.0/104").to_string(), "10.0.0.0/8");
        assert_eq!(net("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert!(net("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(!net("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(matches!(
            "10.0.0.0/33".parse::<IpNet>(),
            Err(IpNetError::Prefix { .. })
        ));
        for bad in ["", "10.0.0", "10.0.0.0/", "10.0.0.0/x", "localhost"] {
            assert!(
                matches!(bad.parse::<IpNet>(), Err(IpNetError::Syntax(_))),
                "{bad}"
            );
        }
    }
}
