//! Rooms and members leave nothing behind: 10,000 create/join/leave cycles end with no rooms,
//! no members and the same live heap as before. Its own test binary, so that the counting
//! allocator sees only this test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

use jam_relay::RelayConfig;
use jam_tests::{Client, drum_hit, piano_note, relay};
use serde_json::json;

/// The system allocator, counting bytes currently allocated.
struct Counting;

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as i64, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// One cycle: host creates a room, guest joins, both play a note, guest leaves, host leaves.
async fn cycle(host: &mut Client, guest: &mut Client) {
    let code = host.create("Host").await["roomCode"]
        .as_str()
        .unwrap()
        .to_owned();
    guest.join(&code, "Guest").await;
    host.expect("session:user-joined").await;
    host.broadcast("piano_note", piano_note(60, 90)).await;
    guest.broadcast("drum_hit", drum_hit(36, 90)).await;
    guest.expect("event:broadcast").await;
    host.expect("event:broadcast").await;
    guest.send(json!({"type": "session:leave"})).await;
    host.expect("session:user-left").await;
    host.send(json!({"type": "session:leave"})).await;
    // The host held note 60: nobody is left to release it for, and the room is gone.
    host.expect_nothing_pending().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_cycles_leave_no_rooms_and_flat_memory() {
    let relay = relay(RelayConfig {
        rate_per_sec: 1_000_000,
        rate_burst: 1_000_000,
        byte_rate_per_sec: u32::MAX,
        byte_burst: u32::MAX,
        ..RelayConfig::default()
    })
    .await;
    let url = relay.url();
    let (mut host, mut guest) = (Client::connect(&url).await, Client::connect(&url).await);
    // Warm up: lazily grown buffers and tables reach their working size.
    for _ in 0..200 {
        cycle(&mut host, &mut guest).await;
    }
    let before = LIVE_BYTES.load(Relaxed);
    for _ in 0..10_000 {
        cycle(&mut host, &mut guest).await;
    }
    assert_eq!(relay.room_count(), 0);
    let stats = relay.stats();
    assert_eq!((stats.rooms, stats.members, stats.connections), (0, 0, 2));
    let grown = LIVE_BYTES.load(Relaxed) - before;
    assert!(
        grown < 64 * 1024,
        "live heap grew by {grown} bytes over 10,000 cycles"
    );

    // Connections that come and go (some dropped mid-room) leave nothing either.
    for i in 0..500 {
        let mut a = Client::connect(&url).await;
        let code = a.create("A").await["roomCode"].as_str().unwrap().to_owned();
        let mut b = Client::connect(&url).await;
        b.join(&code, "B").await;
        if i % 2 == 0 {
            drop(a);
            b.close().await;
        } else {
            a.close().await;
            drop(b);
        }
    }
    host.close().await;
    guest.close().await;
    // Connection tasks finish asynchronously after a close; wait for the relay to see it.
    let stats = wait_until_idle(&relay).await;
    assert_eq!((stats.rooms, stats.members, stats.connections), (0, 0, 0));
    assert_eq!(relay.room_count(), 0);
}

async fn wait_until_idle(relay: &jam_relay::RelayHandle) -> jam_relay::StatsSnapshot {
    tokio::time::timeout(jam_tests::PATIENCE, async {
        loop {
            let stats = relay.stats();
            if stats.connections == 0 && stats.members == 0 {
                return stats;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("every connection ends")
}
