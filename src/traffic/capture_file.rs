//! Reading a packet capture (pcap or pcapng, as tcpdump, tshark and Wireshark write them)
//! into the client-to-server TCP segments of one server port. The formats are read by
//! `pcap-file`, the headers by `etherparse`; link layers: Ethernet, raw IP, Linux cooked
//! (SLL and SLL2), BSD loopback.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};

use super::reassemble::Segment;

/// The first four bytes of a pcapng file (its section header block type).
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// What reading a capture found: the segments of the connections to port `port` (both ways),
/// and how many packets it held.
pub(crate) struct Captured {
    pub(crate) segments: Vec<Segment>,
    pub(crate) packets: usize,
}

/// Reads every packet of the capture in `bytes`; keeps the TCP segments sent to `port`.
pub(crate) fn segments_to(bytes: &[u8], port: u16) -> Result<Captured, String> {
    let mut captured = Captured {
        segments: Vec::new(),
        packets: 0,
    };
    let mut keep = |time: Duration, link: DataLink, data: &[u8]| {
        captured.packets += 1;
        if let Some(segment) = segment(time, link, data, port) {
            captured.segments.push(segment);
        }
    };
    if bytes.starts_with(&PCAPNG_MAGIC) {
        let mut reader = PcapNgReader::new(bytes).map_err(|e| e.to_string())?;
        let mut links: Vec<DataLink> = Vec::new();
        while let Some(block) = reader.next_block() {
            match block.map_err(|e| e.to_string())? {
                Block::SectionHeader(_) => links.clear(),
                Block::InterfaceDescription(interface) => links.push(interface.linktype),
                Block::EnhancedPacket(packet) => {
                    let link = links
                        .get(packet.interface_id as usize)
                        .copied()
                        .unwrap_or(DataLink::ETHERNET);
                    keep(packet.timestamp, link, &packet.data);
                }
                Block::SimplePacket(packet) => {
                    let link = links.first().copied().unwrap_or(DataLink::ETHERNET);
                    keep(Duration::ZERO, link, &packet.data);
                }
                _ => {}
            }
        }
    } else {
        let mut reader = PcapReader::new(bytes).map_err(|e| e.to_string())?;
        let link = reader.header().datalink;
        while let Some(packet) = reader.next_packet() {
            let packet = packet.map_err(|e| e.to_string())?;
            keep(packet.timestamp, link, &packet.data);
        }
    }
    Ok(captured)
}

/// The TCP segment in one captured frame, if it belongs to a connection to `port` (either
/// way).
fn segment(time: Duration, link: DataLink, data: &[u8], port: u16) -> Option<Segment> {
    let sliced = match link {
        DataLink::ETHERNET => SlicedPacket::from_ethernet(data).ok()?,
        DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(data).ok()?,
        // SLL2: a 20-byte header; NULL/LOOP: a 4-byte address family.
        DataLink::LINUX_SLL2 => SlicedPacket::from_ip(data.get(20..)?).ok()?,
        DataLink::NULL | DataLink::LOOP => SlicedPacket::from_ip(data.get(4..)?).ok()?,
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(data).ok()?,
        _ => return None,
    };
    let (source, destination): (IpAddr, IpAddr) = match sliced.net? {
        NetSlice::Ipv4(ip) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        NetSlice::Ipv6(ip) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        NetSlice::Arp(_) => return None,
    };
    let TransportSlice::Tcp(tcp) = sliced.transport? else {
        return None;
    };
    let source = SocketAddr::new(source, tcp.source_port());
    let destination = SocketAddr::new(destination, tcp.destination_port());
    let (client, server, from_server) = if destination.port() == port {
        (source, destination, false)
    } else if source.port() == port {
        (destination, source, true)
    } else {
        return None;
    };
    Some(Segment {
        time,
        client,
        server,
        seq: tcp.sequence_number(),
        syn: tcp.syn() && (tcp.ack() == from_server),
        from_server,
        payload: tcp.payload().to_vec(),
    })
}

/// Reads a whole capture file.
pub(crate) fn read_all(mut file: impl Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}
