use super::*;

fn group(n: u16) -> Group {
    let upstreams = (1..=n)
        .map(|port| {
            let origin = Origin::new("127.0.0.1", port, false);
            Arc::new(Upstream::new(format!("agtp://127.0.0.1:{port}"), origin))
        })
        .collect();
    let deadlines = Deadlines {
        connect: Duration::from_secs(1),
        response: Duration::from_secs(1),
    };
    Group::new(upstreams, deadlines)
}

fn first_ports(group: &Group, n: usize) -> Vec<u16> {
    (0..n).map(|_| group.order()[0].origin.port()).collect()
}

#[tokio::test(start_paused = true)]
async fn healthy_upstreams_take_turns_and_an_ejected_one_is_skipped_until_its_cool_down_ends() {
    let group = group(3);
    assert_eq!(first_ports(&group, 4), [1, 2, 3, 1]);
    let second = &group.upstreams[1];
    second.failed(Failure::Connect, 2, Duration::from_secs(10));
    assert_eq!(group.order().len(), 3, "one failure does not eject");
    second.failed(Failure::Connect, 2, Duration::from_secs(10));
    assert_eq!(group.order().len(), 2);
    assert!(first_ports(&group, 6).iter().all(|p| *p != 2));
    tokio::time::advance(Duration::from_secs(11)).await;
    assert_eq!(group.order().len(), 3, "back after the cool-down");
    second.failed(Failure::Timeout, 2, Duration::from_secs(10));
    assert_eq!(group.order().len(), 2, "one more failure ejects it again");
    tokio::time::advance(Duration::from_secs(11)).await;
    second.succeeded();
    second.failed(Failure::Closed, 2, Duration::from_secs(10));
    assert_eq!(group.order().len(), 3, "a success cleared the count");
    assert_eq!(second.n_failures(Failure::Connect), 2);
}

#[tokio::test(start_paused = true)]
async fn when_every_upstream_is_ejected_all_are_tried_soonest_back_first() {
    let group = group(2);
    group.upstreams[0].failed(Failure::Connect, 1, Duration::from_secs(20));
    group.upstreams[1].failed(Failure::Connect, 1, Duration::from_secs(5));
    let order: Vec<u16> = group.order().iter().map(|u| u.origin.port()).collect();
    assert_eq!(order, [2, 1]);
}
