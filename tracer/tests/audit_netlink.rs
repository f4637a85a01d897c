//! The framing of the audit netlink socket's datagrams (`audit::netlink::messages`), fed
//! datagrams built here as the kernel builds them (`struct nlmsghdr`, then the payload, padded
//! to 4 bytes: `NLMSG_ALIGN`), and bytes of no form at all.

use proptest::prelude::*;
use tracer::source::audit::netlink::messages;

const HEADER_BYTES: usize = 16;

/// One message as a sender means it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Sent {
    kind: u16,
    flags: u16,
    seq: u32,
    port: u32,
    payload: Vec<u8>,
}

impl Sent {
    /// `struct nlmsghdr` in the machine's byte order, then the payload, unpadded.
    fn bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER_BYTES + self.payload.len());
        let len = (HEADER_BYTES + self.payload.len()) as u32;
        bytes.extend_from_slice(&len.to_ne_bytes());
        bytes.extend_from_slice(&self.kind.to_ne_bytes());
        bytes.extend_from_slice(&self.flags.to_ne_bytes());
        bytes.extend_from_slice(&self.seq.to_ne_bytes());
        bytes.extend_from_slice(&self.port.to_ne_bytes());
        bytes.extend_from_slice(&self.payload);
        bytes
    }
}

fn sent() -> impl Strategy<Value = Sent> {
    let kind = prop_oneof![Just(1326u16), Just(1300), Just(1327), any::<u16>()];
    (
        kind,
        any::<u16>(),
        any::<u32>(),
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 0..120),
    )
        .prop_map(|(kind, flags, seq, port, payload)| Sent {
            kind,
            flags,
            seq,
            port,
            payload,
        })
}

/// The messages one after the other, each padded to 4 bytes but perhaps the last.
fn datagram(sent: &[Sent], pad_last: bool) -> Vec<u8> {
    let mut datagram = Vec::new();
    for (index, message) in sent.iter().enumerate() {
        datagram.extend(message.bytes());
        if pad_last || index + 1 < sent.len() {
            datagram.resize(datagram.len().next_multiple_of(4), 0);
        }
    }
    datagram
}

fn received(datagram: &[u8]) -> Vec<(u16, u32, u32, Vec<u8>)> {
    messages(datagram)
        .map(|m| (m.kind, m.seq, m.port, m.payload.to_vec()))
        .collect()
}

fn expected(sent: &[Sent]) -> Vec<(u16, u32, u32, Vec<u8>)> {
    sent.iter()
        .map(|m| (m.kind, m.seq, m.port, m.payload.clone()))
        .collect()
}

#[test]
fn the_header_is_the_kernels() {
    assert_eq!(size_of::<libc::nlmsghdr>(), HEADER_BYTES);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_split_into_messages_within_them(
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut payload_bytes = 0;
        for message in messages(&bytes) {
            payload_bytes += HEADER_BYTES + message.payload.len();
        }
        prop_assert!(payload_bytes <= bytes.len());
    }

    #[test]
    fn built_messages_come_back(
        sent in prop::collection::vec(sent(), 0..6),
        pad_last in any::<bool>(),
        // A tail too short to be a header: the kernel never sends one, so it is ignored.
        tail in prop::collection::vec(any::<u8>(), 0..HEADER_BYTES),
    ) {
        let mut bytes = datagram(&sent, pad_last || !tail.is_empty());
        bytes.extend(&tail);
        prop_assert_eq!(received(&bytes), expected(&sent));
    }

    #[test]
    fn a_header_that_claims_more_than_there_is_ends_the_datagram(
        sent in prop::collection::vec(sent(), 0..4),
        broken in sent(),
        excess in 1u32..1000,
    ) {
        let mut bytes = datagram(&sent, true);
        let mut broken_bytes = broken.bytes();
        let claimed = broken_bytes.len() as u32 + excess;
        broken_bytes[..4].copy_from_slice(&claimed.to_ne_bytes());
        bytes.extend(broken_bytes);
        prop_assert_eq!(received(&bytes), expected(&sent));
    }

    #[test]
    fn a_header_that_claims_less_than_itself_ends_the_datagram(
        sent in prop::collection::vec(sent(), 0..4),
        broken in sent(),
        claimed in 0u32..HEADER_BYTES as u32,
    ) {
        let mut bytes = datagram(&sent, true);
        let mut broken_bytes = broken.bytes();
        broken_bytes[..4].copy_from_slice(&claimed.to_ne_bytes());
        bytes.extend(broken_bytes);
        prop_assert_eq!(received(&bytes), expected(&sent));
    }
}
