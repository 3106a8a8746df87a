use kafka_protocol::compression::{Compressor, Gzip, Snappy};

use super::compression::gunzip;
use super::*;
use crate::protocol::batch::validate_batches;
use crate::protocol::batch::BatchHeader;
use crate::protocol::records;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{Compression, Record};
use kafka_protocol::records::{RecordBatchDecoder, TimestampType};

const LIMITS: UpConversionLimits = UpConversionLimits {
    message_bytes_max: 1 << 20,
    decompressed_bytes_max: 1 << 20,
};
const EVERYTHING: DownConversionLimits = DownConversionLimits {
    max_bytes: usize::MAX,
    decompressed_bytes_max: 1 << 20,
};

/// A message assembled field by field, independently of `put_message`.
fn hand_built(
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: &[u8],
    value: &[u8],
) -> Vec<u8> {
    let mut body = vec![magic as u8, attributes as u8];
    if magic == 1 {
        body.extend_from_slice(&timestamp.to_be_bytes());
    }
    body.extend_from_slice(&(key.len() as i32).to_be_bytes());
    body.extend_from_slice(key);
    body.extend_from_slice(&(value.len() as i32).to_be_bytes());
    body.extend_from_slice(value);
    let mut message = offset.to_be_bytes().to_vec();
    message.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    message.extend_from_slice(&crc32_ieee(&body).to_be_bytes());
    message.extend_from_slice(&body);
    message
}

fn gzip(bytes: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    Gzip::compress(&mut out, |buffer: &mut BytesMut| {
        buffer.put_slice(bytes);
        Ok(())
    })
    .unwrap();
    out.freeze()
}

fn snappy(bytes: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    Snappy::compress(&mut out, |buffer: &mut BytesMut| {
        buffer.put_slice(bytes);
        Ok(())
    })
    .unwrap();
    out.freeze()
}

fn decode(batch: &Bytes) -> kafka_protocol::records::RecordSet {
    let mut bytes = batch.clone();
    let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
    assert!(bytes.is_empty(), "exactly one batch");
    set
}

/// Deterministic bytes that do not compress (xorshift).
fn noise(length: usize, mut state: u64) -> Vec<u8> {
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[test]
fn gunzip_reads_what_flate2_writes() {
    let text: Vec<u8> = (0..20_000)
        .flat_map(|index| format!("record {index} of the log, ").into_bytes())
        .collect();
    let mut mixed = noise(50_000, 7);
    mixed.extend_from_slice(&text[..40_000]);
    mixed.extend_from_slice(&noise(1000, 9));
    mixed.extend_from_slice(&text[..40_000]); // a match 41 KB back is out of window
    let samples: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"a".to_vec(),
        b"short text, fixed codes".to_vec(),
        text,
        noise(200_000, 3),
        vec![0u8; 3 << 20],
        mixed,
    ];
    for sample in samples {
        let compressed = gzip(&sample);
        let output = gunzip::gunzip(&compressed, sample.len()).unwrap();
        assert!(output == sample, "{} bytes", sample.len());
        if !sample.is_empty() {
            assert_eq!(
                gunzip::gunzip(&compressed, sample.len() - 1),
                Err(gunzip::GunzipError::TooLarge)
            );
        }
    }
}

#[test]
fn gunzip_reads_header_fields_and_several_members() {
    // A file name in the header (FLG.FNAME), then a second member.
    let first = gzip(b"first member ");
    let mut named = first[..10].to_vec();
    named[3] |= 0x08;
    named.extend_from_slice(b"name.txt\0");
    named.extend_from_slice(&first[10..]);
    named.extend_from_slice(&gzip(b"second member"));
    assert_eq!(
        gunzip::gunzip(&named, 1 << 20).unwrap(),
        b"first member second member".to_vec()
    );
}

#[test]
fn gunzip_refuses_corruption_and_truncation() {
    let compressed = gzip(&b"some text some text some text".repeat(20));
    for cut in 0..compressed.len() {
        assert!(
            gunzip::gunzip(&compressed[..cut], 1 << 20).is_err(),
            "cut at {cut}"
        );
    }
    // CRC-32 and length in the trailer.
    for at in [compressed.len() - 8, compressed.len() - 1] {
        let mut broken = compressed.to_vec();
        broken[at] ^= 1;
        assert!(matches!(
            gunzip::gunzip(&broken, 1 << 20),
            Err(gunzip::GunzipError::Invalid(_))
        ));
    }
    // Any flipped bit in the deflate data is refused, never a panic.
    for at in 10..compressed.len() - 8 {
        let mut broken = compressed.to_vec();
        broken[at] ^= 0x04;
        assert!(gunzip::gunzip(&broken, 1 << 20).is_err(), "byte {at}");
    }
    assert!(gunzip::gunzip(b"not gzip at all", 100).is_err());
}

#[test]
fn crc32_is_the_ieee_one() {
    assert_eq!(crc32_ieee(b"123456789"), 0xCBF4_3926);
    let sample: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    assert_eq!(
        crc32_ieee(&sample),
        kafka_protocol::records::IEEE.checksum(&sample)
    );
}

#[test]
fn put_message_matches_hand_built_bytes() {
    for magic in [MAGIC_V0, MAGIC_V1] {
        let mut out = BytesMut::new();
        put_message(
            &mut out,
            42,
            magic,
            0,
            1_700_000_000_000,
            Some(b"k"),
            Some(b"value"),
        );
        assert_eq!(
            out.to_vec(),
            hand_built(42, magic, 0, 1_700_000_000_000, b"k", b"value"),
            "magic {magic}"
        );
    }
    // A fully literal magic 1 message with a null key: offset 7, size
    // 23, CRC over magic..end, magic 1, attributes 0, timestamp 1000,
    // key -1, value "a".
    let mut out = BytesMut::new();
    put_message(&mut out, 7, MAGIC_V1, 0, 1000, None, Some(b"a"));
    let mut expected = vec![0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 23];
    let body = [
        1u8, 0, 0, 0, 0, 0, 0, 0, 0x03, 0xe8, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, b'a',
    ];
    expected.extend_from_slice(&crc32_ieee(&body).to_be_bytes());
    expected.extend_from_slice(&body);
    assert_eq!(out.to_vec(), expected);
}

#[test]
fn parses_hand_built_messages_of_both_magics() {
    let mut set = hand_built(0, 0, 0, 0, b"a", b"one");
    set.extend(hand_built(1, 1, 0, 5_000, b"", b"two"));
    let messages = parse_message_set(&Bytes::from(set), PartialTail::Refuse).unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].timestamp, NO_TIMESTAMP);
    assert_eq!(messages[0].key.as_deref(), Some(&b"a"[..]));
    assert_eq!(messages[1].magic, 1);
    assert_eq!(messages[1].timestamp, 5_000);
    assert_eq!(messages[1].offset, 1);
    assert_eq!(messages[1].value.as_deref(), Some(&b"two"[..]));
}

#[test]
fn up_converts_an_uncompressed_magic_1_set() {
    let mut set = BytesMut::new();
    put_message(&mut set, 0, MAGIC_V1, 0, 1_000, Some(b"k1"), Some(b"v1"));
    put_message(&mut set, 1, MAGIC_V1, 0, 3_000, None, Some(b"v2"));
    put_message(&mut set, 2, MAGIC_V1, 0, 2_000, Some(b"k3"), None);
    let converted = up_convert(&set.freeze(), LIMITS).unwrap();
    assert_eq!(converted.record_count, 3);
    let spans = validate_batches(&converted.batch, 1 << 20).unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].offset_count, 3);
    let header = BatchHeader::view(&converted.batch).unwrap();
    assert_eq!(header.base_timestamp.get(), 1_000);
    assert_eq!(header.max_timestamp.get(), 3_000);
    assert_eq!(header.producer_id.get(), -1);
    let decoded = decode(&converted.batch);
    assert_eq!(decoded.compression, Compression::None);
    let fields: Vec<_> = decoded
        .records
        .iter()
        .map(|record| {
            (
                record.offset,
                record.timestamp,
                record.key.clone(),
                record.value.clone(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        vec![
            (
                0,
                1_000,
                Some(Bytes::from_static(b"k1")),
                Some(Bytes::from_static(b"v1"))
            ),
            (1, 3_000, None, Some(Bytes::from_static(b"v2"))),
            (2, 2_000, Some(Bytes::from_static(b"k3")), None),
        ]
    );
}

#[test]
fn descending_and_missing_timestamps_survive_the_deltas() {
    let mut set = BytesMut::new();
    put_message(&mut set, 0, MAGIC_V1, 0, 5_000, None, Some(b"late"));
    put_message(&mut set, 1, MAGIC_V1, 0, 1_000, None, Some(b"early"));
    put_message(&mut set, 2, MAGIC_V0, 0, 0, None, Some(b"none"));
    let converted = up_convert(&set.freeze(), LIMITS).unwrap();
    let timestamps: Vec<i64> = decode(&converted.batch)
        .records
        .iter()
        .map(|record| record.timestamp)
        .collect();
    assert_eq!(timestamps, vec![5_000, 1_000, NO_TIMESTAMP]);
    assert_eq!(
        BatchHeader::view(&converted.batch)
            .unwrap()
            .max_timestamp
            .get(),
        5_000
    );
}

#[test]
fn many_small_messages_cost_their_size_not_their_count() {
    let mut set = BytesMut::new();
    for index in 0..50_000 {
        put_message(&mut set, index, MAGIC_V0, 0, 0, None, None);
    }
    let set = set.freeze();
    let converted = up_convert(&set, LIMITS).unwrap();
    assert_eq!(converted.record_count, 50_000);
    assert!(
        converted.batch.len() < set.len(),
        "{} bytes",
        converted.batch.len()
    );
    validate_batches(&converted.batch, usize::MAX).unwrap();
}

#[test]
fn magic_0_messages_have_no_timestamp() {
    let mut set = BytesMut::new();
    put_message(&mut set, 0, MAGIC_V0, 0, 0, None, Some(b"old"));
    let converted = up_convert(&set.freeze(), LIMITS).unwrap();
    let header = BatchHeader::view(&converted.batch).unwrap();
    assert_eq!(header.max_timestamp.get(), NO_TIMESTAMP);
    assert_eq!(decode(&converted.batch).records[0].timestamp, NO_TIMESTAMP);
}

/// A wrapper around `inner` compressed with `codec`.
fn wrapper(offset: i64, magic: i8, codec: i8, timestamp: i64, inner: &[u8]) -> Bytes {
    let compressed = match codec & ATTRIBUTE_CODEC_MASK {
        CODEC_GZIP => gzip(inner),
        CODEC_SNAPPY => snappy(inner),
        _ => Bytes::copy_from_slice(inner),
    };
    let mut out = BytesMut::new();
    put_message(
        &mut out,
        offset,
        magic,
        codec,
        timestamp,
        None,
        Some(&compressed),
    );
    out.freeze()
}

#[test]
fn up_converts_compressed_wrappers_keeping_the_codec() {
    for (codec, compression) in [
        (CODEC_GZIP, Compression::Gzip),
        (CODEC_SNAPPY, Compression::Snappy),
    ] {
        // Magic 1: inner offsets relative (0, 1, 2); the wrapper holds
        // the absolute offset of the last.
        let mut inner = BytesMut::new();
        for (index, value) in [&b"a"[..], b"bb", b"ccc"].iter().enumerate() {
            put_message(
                &mut inner,
                index as i64,
                MAGIC_V1,
                0,
                10 + index as i64,
                None,
                Some(value),
            );
        }
        let set = wrapper(2, MAGIC_V1, codec, 12, &inner);
        let converted = up_convert(&set, LIMITS).unwrap();
        validate_batches(&converted.batch, 1 << 20).unwrap();
        let decoded = decode(&converted.batch);
        assert_eq!(decoded.compression, compression);
        let values: Vec<_> = decoded
            .records
            .iter()
            .map(|r| (r.value.clone().unwrap(), r.timestamp))
            .collect();
        assert_eq!(
            values,
            vec![
                (Bytes::from_static(b"a"), 10),
                (Bytes::from_static(b"bb"), 11),
                (Bytes::from_static(b"ccc"), 12)
            ]
        );
        // Magic 0: inner offsets absolute.
        let mut inner = BytesMut::new();
        put_message(&mut inner, 100, MAGIC_V0, 0, 0, Some(b"x"), Some(b"y"));
        put_message(&mut inner, 101, MAGIC_V0, 0, 0, Some(b"z"), None);
        let set = wrapper(101, MAGIC_V0, codec, 0, &inner);
        let decoded = decode(&up_convert(&set, LIMITS).unwrap().batch);
        assert_eq!(decoded.records.len(), 2);
        assert_eq!(decoded.records[1].key.as_deref(), Some(&b"z"[..]));
        assert_eq!(decoded.records[1].timestamp, NO_TIMESTAMP);
    }
}

#[test]
fn log_append_time_wrappers_give_their_time() {
    let mut inner = BytesMut::new();
    put_message(&mut inner, 0, MAGIC_V1, 0, 5, None, Some(b"a"));
    let set = wrapper(
        0,
        MAGIC_V1,
        CODEC_GZIP | ATTRIBUTE_LOG_APPEND_TIME,
        777,
        &inner,
    );
    // `wrapper` compresses by codec; the flag rides in the attributes.
    let messages = parse_message_set(&set, PartialTail::Refuse).unwrap();
    assert_eq!(messages[0].codec(), CODEC_GZIP);
    let decoded = decode(&up_convert(&set, LIMITS).unwrap().batch);
    assert_eq!(decoded.records[0].timestamp, 777);
}

#[test]
fn refuses_flipped_bits_with_corrupt_message() {
    let set = hand_built(0, 1, 0, 1, b"key", b"value");
    for at in 16..set.len() {
        let mut broken = set.clone();
        broken[at] ^= 0x10;
        let error = up_convert(&Bytes::from(broken), LIMITS).unwrap_err();
        assert!(
            matches!(
                error,
                LegacyError::CrcMismatch { .. } | LegacyError::UnsupportedMagic(_)
            ),
            "byte {at}: {error}"
        );
    }
    let mut broken = set.clone();
    broken[set.len() - 1] ^= 1;
    let error = up_convert(&Bytes::from(broken), LIMITS).unwrap_err();
    assert_eq!(error.error_code(), ErrorCode::CORRUPT_MESSAGE);
    // A bad CRC inside a compressed wrapper is found too.
    let mut inner = hand_built(0, 1, 0, 1, b"", b"inner");
    let last = inner.len() - 1;
    inner[last] ^= 1;
    let set = wrapper(0, MAGIC_V1, CODEC_GZIP, 1, &inner);
    assert!(matches!(
        up_convert(&set, LIMITS),
        Err(LegacyError::CrcMismatch { .. })
    ));
}

#[test]
fn refuses_every_truncation_but_skips_a_partial_tail_when_asked() {
    let mut set = hand_built(0, 1, 0, 1, b"k", b"first");
    let first = set.len();
    set.extend(hand_built(1, 1, 0, 2, b"k", b"second"));
    for cut in 1..set.len() {
        let prefix = Bytes::copy_from_slice(&set[..cut]);
        // Only the cut right after the first message leaves a whole set.
        assert_eq!(
            up_convert(&prefix, LIMITS).is_err(),
            cut != first,
            "cut at {cut}"
        );
        let skipped = parse_message_set(&prefix, PartialTail::Skip).unwrap();
        assert_eq!(skipped.len(), usize::from(cut >= first), "cut at {cut}");
    }
    assert!(matches!(
        up_convert(&Bytes::new(), LIMITS),
        Err(LegacyError::Malformed(_))
    ));
}

#[test]
fn huge_claimed_lengths_are_refused_without_allocating() {
    // Message size i32::MAX.
    let mut set = 0i64.to_be_bytes().to_vec();
    set.extend_from_slice(&i32::MAX.to_be_bytes());
    set.extend_from_slice(&[0; 20]);
    assert!(matches!(
        parse_message_set(&Bytes::from(set), PartialTail::Refuse),
        Err(LegacyError::Truncated(_))
    ));
    // A key length of i32::MAX inside a correctly checksummed message.
    let mut body = vec![1u8, 0];
    body.extend_from_slice(&0i64.to_be_bytes());
    body.extend_from_slice(&i32::MAX.to_be_bytes());
    body.extend_from_slice(&[0; 8]);
    let mut set = 0i64.to_be_bytes().to_vec();
    set.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    set.extend_from_slice(&crc32_ieee(&body).to_be_bytes());
    set.extend_from_slice(&body);
    assert!(matches!(
        parse_message_set(&Bytes::from(set), PartialTail::Refuse),
        Err(LegacyError::Malformed(_))
    ));
    // A corrupt key length is an error even where a partial tail is skipped.
    let mut body = vec![1u8, 0];
    body.extend_from_slice(&0i64.to_be_bytes());
    body.extend_from_slice(&1000i32.to_be_bytes());
    body.extend_from_slice(&[0; 8]);
    let mut set = 0i64.to_be_bytes().to_vec();
    set.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    set.extend_from_slice(&crc32_ieee(&body).to_be_bytes());
    set.extend_from_slice(&body);
    assert!(parse_message_set(&Bytes::from(set), PartialTail::Skip).is_err());
    // Negative sizes.
    let mut set = 0i64.to_be_bytes().to_vec();
    set.extend_from_slice(&(-5i32).to_be_bytes());
    assert!(matches!(
        parse_message_set(&Bytes::from(set), PartialTail::Refuse),
        Err(LegacyError::Malformed(_))
    ));
    // A snappy block claiming 4 GiB of output.
    let mut claim = b"\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01".to_vec();
    claim.extend_from_slice(&6u32.to_be_bytes());
    claim.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
    assert!(matches!(
        decompress(CODEC_SNAPPY, &Bytes::from(claim), 1 << 20),
        Err(LegacyError::DecompressedTooLarge { .. })
    ));
    // A v2 batch claiming 2^31-1 records in a few bytes.
    let mut batch =
        crate::protocol::batch::tests::sample_batch(1, b"\x0e\x00\x00\x00\x02k\x02v\x00");
    BatchHeader::view_mut(&mut batch)
        .unwrap()
        .records_count
        .set(i32::MAX);
    assert!(matches!(
        down_convert(&Bytes::from(batch), MAGIC_V1, 0, EVERYTHING),
        Err(LegacyError::Malformed(_))
    ));
}

#[test]
fn decompression_is_bounded() {
    let zeros = vec![0u8; 1 << 20];
    for codec in [CODEC_GZIP, CODEC_SNAPPY] {
        let mut inner = BytesMut::new();
        put_message(&mut inner, 0, MAGIC_V1, 0, 1, None, Some(&zeros));
        let set = wrapper(0, MAGIC_V1, codec, 1, &inner);
        assert!(set.len() < 100 * 1024, "compresses well");
        let limits = UpConversionLimits {
            message_bytes_max: 1 << 20,
            decompressed_bytes_max: 64 * 1024,
        };
        let error = up_convert(&set, limits).unwrap_err();
        assert_eq!(
            error,
            LegacyError::DecompressedTooLarge {
                limit_bytes: 64 * 1024
            },
            "codec {codec}"
        );
        assert_eq!(error.error_code(), ErrorCode::MESSAGE_TOO_LARGE);
    }
    // A gzip trailer that understates the output is still caught.
    let mut lying = gzip(&zeros).to_vec();
    let at = lying.len() - 4;
    lying[at..].copy_from_slice(&100u32.to_le_bytes());
    assert!(decompress(CODEC_GZIP, &Bytes::from(lying), 64 * 1024).is_err());
}

#[test]
fn refuses_what_it_cannot_convert() {
    let lz4 = wrapper(0, MAGIC_V1, 3, 1, b"whatever");
    let error = up_convert(&lz4, LIMITS).unwrap_err();
    assert_eq!(error, LegacyError::UnsupportedCompression(3));
    assert_eq!(error.error_code(), ErrorCode::UNSUPPORTED_COMPRESSION_TYPE);
    let magic_2 = hand_built(0, 2, 0, 0, b"", b"x");
    assert_eq!(
        up_convert(&Bytes::from(magic_2), LIMITS).unwrap_err(),
        LegacyError::UnsupportedMagic(2)
    );
    let big = hand_built(0, 1, 0, 0, b"", &[1; 200]);
    assert!(matches!(
        up_convert(
            &Bytes::from(big),
            UpConversionLimits {
                message_bytes_max: 100,
                decompressed_bytes_max: 1 << 20
            }
        ),
        Err(LegacyError::TooLarge { .. })
    ));
    let mut nested_inner = BytesMut::new();
    put_message(
        &mut nested_inner,
        0,
        MAGIC_V1,
        CODEC_GZIP,
        1,
        None,
        Some(&gzip(b"x")),
    );
    let nested = wrapper(0, MAGIC_V1, CODEC_GZIP, 1, &nested_inner);
    assert!(matches!(
        up_convert(&nested, LIMITS),
        Err(LegacyError::Malformed(_))
    ));
}

/// Stored batches as a v3+ producer (or an up-conversion) leaves them:
/// `values` in one batch at `base_offset`.
fn stored_batch(base_offset: i64, values: &[&str], compression: Compression) -> BytesMut {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let mut record = records::record(
                index,
                Some(Bytes::from(format!("key-{value}"))),
                Some(Bytes::copy_from_slice(value.as_bytes())),
                1_000 + index as i64,
            );
            record.headers.insert(
                StrBytes::from_static_str("dropped"),
                Some(Bytes::from_static(b"h")),
            );
            record
        })
        .collect();
    let mut batch = BytesMut::from(&records::encode_batch(&records, compression)[..]);
    BatchHeader::view_mut(&mut batch)
        .unwrap()
        .base_offset
        .set(base_offset);
    batch
}

fn values_and_offsets(set: &Bytes) -> Vec<(i64, String)> {
    parse_message_set(set, PartialTail::Refuse)
        .unwrap()
        .into_iter()
        .map(|message| {
            (
                message.offset,
                String::from_utf8(message.value.unwrap().to_vec()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn down_converts_batches_to_both_magics() {
    let mut stored = stored_batch(10, &["a", "b"], Compression::None);
    stored.extend_from_slice(&stored_batch(12, &["c", "d", "e"], Compression::Gzip));
    stored.extend_from_slice(&stored_batch(15, &["f"], Compression::Snappy));
    let stored = stored.freeze();
    for magic in [MAGIC_V0, MAGIC_V1] {
        let set = down_convert(&stored, magic, 10, EVERYTHING).unwrap();
        let messages = parse_message_set(&set, PartialTail::Refuse).unwrap();
        assert!(messages
            .iter()
            .all(|message| message.magic == magic && message.codec() == 0));
        assert_eq!(
            values_and_offsets(&set),
            vec![
                (10, "a".into()),
                (11, "b".into()),
                (12, "c".into()),
                (13, "d".into()),
                (14, "e".into()),
                (15, "f".into())
            ]
        );
        assert_eq!(messages[3].key.as_deref(), Some(&b"key-d"[..]));
        let expected_timestamp = if magic == MAGIC_V1 {
            1_001
        } else {
            NO_TIMESTAMP
        };
        assert_eq!(messages[3].timestamp, expected_timestamp);
    }
    // From the middle of a batch: earlier records are left out.
    let set = down_convert(&stored, MAGIC_V1, 13, EVERYTHING).unwrap();
    assert_eq!(values_and_offsets(&set)[0], (13, "d".into()));
    assert_eq!(values_and_offsets(&set).len(), 3);
}

#[test]
fn down_conversion_skips_control_and_partial_batches() {
    let mut control = stored_batch(0, &["marker"], Compression::None);
    {
        let header = BatchHeader::view_mut(&mut control).unwrap();
        header
            .attributes
            .set(header.attributes.get() | BATCH_ATTRIBUTE_CONTROL);
    }
    let mut stored = control;
    stored.extend_from_slice(&stored_batch(1, &["kept"], Compression::None));
    let partial = stored_batch(2, &["cut off"], Compression::None);
    stored.extend_from_slice(&partial[..partial.len() - 3]);
    let set = down_convert(&stored.freeze(), MAGIC_V1, 0, EVERYTHING).unwrap();
    assert_eq!(values_and_offsets(&set), vec![(1, "kept".into())]);
}

#[test]
fn down_conversion_stops_at_max_bytes_but_returns_one_message() {
    let stored = stored_batch(0, &["one", "two", "three"], Compression::None).freeze();
    let tiny = DownConversionLimits {
        max_bytes: 1,
        decompressed_bytes_max: 1 << 20,
    };
    let set = down_convert(&stored, MAGIC_V1, 0, tiny).unwrap();
    assert_eq!(values_and_offsets(&set), vec![(0, "one".into())]);
    let everything = down_convert(&stored, MAGIC_V1, 0, EVERYTHING).unwrap();
    let two = DownConversionLimits {
        max_bytes: everything.len() - 1,
        decompressed_bytes_max: 1 << 20,
    };
    assert_eq!(
        down_convert(&stored, MAGIC_V1, 0, two).unwrap().len(),
        everything.len() - (LOG_OVERHEAD_BYTES + 22 + 9 + 5)
    );
}

#[test]
fn log_append_time_batches_stamp_each_message() {
    let mut stored = stored_batch(0, &["a"], Compression::None);
    crate::protocol::batch::assign_offset(
        &mut stored,
        0,
        0,
        crate::protocol::batch::TimestampType::LogAppendTime,
        99_999,
    );
    let set = down_convert(&stored.freeze(), MAGIC_V1, 0, EVERYTHING).unwrap();
    let messages = parse_message_set(&set, PartialTail::Refuse).unwrap();
    assert_eq!(messages[0].timestamp, 99_999);
    assert_eq!(messages[0].attributes, ATTRIBUTE_LOG_APPEND_TIME);
}

#[test]
fn up_then_down_is_the_identity_on_keys_values_and_timestamps() {
    let mut inner = BytesMut::new();
    put_message(&mut inner, 0, MAGIC_V1, 0, 50, Some(b"k"), Some(b"first"));
    put_message(&mut inner, 1, MAGIC_V1, 0, 60, None, None);
    let mut set = BytesMut::from(&wrapper(1, MAGIC_V1, CODEC_SNAPPY, 60, &inner)[..]);
    put_message(&mut set, 2, MAGIC_V1, 0, 70, Some(b"plain"), Some(b"last"));
    let converted = up_convert(&set.freeze(), LIMITS).unwrap();
    let mut stored = BytesMut::from(&converted.batch[..]);
    crate::protocol::batch::assign_offset(
        &mut stored,
        500,
        0,
        crate::protocol::batch::TimestampType::CreateTime,
        0,
    );
    let back = down_convert(&stored.freeze(), MAGIC_V1, 500, EVERYTHING).unwrap();
    let messages = parse_message_set(&back, PartialTail::Refuse).unwrap();
    let fields: Vec<_> = messages
        .iter()
        .map(|m| (m.offset, m.timestamp, m.key.clone(), m.value.clone()))
        .collect();
    assert_eq!(
        fields,
        vec![
            (
                500,
                50,
                Some(Bytes::from_static(b"k")),
                Some(Bytes::from_static(b"first"))
            ),
            (501, 60, None, None),
            (
                502,
                70,
                Some(Bytes::from_static(b"plain")),
                Some(Bytes::from_static(b"last"))
            ),
        ]
    );
    assert_eq!(
        decode(&converted.batch).records[0].timestamp_type,
        TimestampType::Creation
    );
}
