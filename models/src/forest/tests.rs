use super::*;

/// Three classes in two features: x0 < 0.3 → 0, x1 > 0.6 → 2, else 1; 5 % noise.
fn data(n: usize, seed: u64) -> (Vec<f64>, Vec<u32>) {
    let mut r = Rng::new(seed);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (a, b, noise) = (r.unit(), r.unit(), r.unit());
        x.extend([a, b, r.unit()]);
        let c = if a < 0.3 {
            0
        } else if b > 0.6 {
            2
        } else {
            1
        };
        y.push(if noise < 0.05 { (c + 1) % 3 } else { c });
    }
    (x, y)
}

#[test]
fn learns_a_three_class_boundary_and_generalises() {
    let (x, y) = data(2000, 1);
    let f = RandomForest::fit(&x, 3, &y, 3, ForestParams::default()).unwrap();
    let (tx, ty) = data(1000, 2);
    let right = (0..ty.len())
        .filter(|&i| f.predict(&tx[i * 3..i * 3 + 3]) == ty[i])
        .count();
    // 5 % label noise caps accuracy near 95 %.
    assert!(right > 900, "{right} of 1000");
    let p = f.predict_proba(&[0.1, 0.1, 0.5]);
    assert!(
        (p.iter().sum::<f32>() - 1.0).abs() < 1e-4 && p[0] > 0.8,
        "{p:?}"
    );
}

/// The walk of one tree, one node at a time, from the payload's view of it.
fn walk(f: &RandomForest, tree: usize, row: &[f64]) -> usize {
    let mut i = f.roots[tree] as usize;
    loop {
        let n = f.nodes[i];
        if n.is_leaf(f.features) {
            return n.leaf_row();
        }
        let v = row.get(n.feature as usize).copied().unwrap_or(0.0);
        i = if key(v) <= n.threshold {
            n.left
        } else {
            n.left + 1
        } as usize;
    }
}

/// The class probabilities of `row`, tree by tree with [`walk`].
fn walked(f: &RandomForest, row: &[f64]) -> Vec<f32> {
    let mut mean = vec![0.0f32; f.classes];
    for t in 0..f.roots.len() {
        let from = walk(f, t, row) * f.classes;
        let probs = &f.probs[from..from + f.classes];
        mean.iter_mut().zip(probs).for_each(|(m, p)| *m += p);
    }
    mean.iter_mut().for_each(|m| *m /= f.roots.len() as f32);
    mean
}

#[test]
fn training_rows_reach_leaves_of_their_class() {
    // Grown to purity, a tree sends every row of its bootstrap sample to a leaf of
    // the row's class, if fit and prediction compare values alike. A third of the
    // rows have a twin of another class whose first feature differs by less than an
    // f32 tells apart, so only the third feature separates them (all three are
    // tried at every split, so every node that can be split is).
    let (mut x, mut y) = data(200, 5);
    let mut r = Rng::new(9);
    for i in 0..100 {
        x.extend([x[i * 3] + 1e-12, x[i * 3 + 1], r.unit()]);
        y.push((y[i] + 1) % 3);
    }
    let p = ForestParams {
        trees: 5,
        max_depth: 64,
        min_split: 2,
        features_per_split: 3,
        ..ForestParams::default()
    };
    let f = RandomForest::fit(&x, 3, &y, 3, p).unwrap();
    let mut rng = Rng::new(p.seed);
    for t in 0..p.trees {
        let mut tree_rng = rng.fork(t as u64 + 1);
        for _ in 0..y.len() {
            let i = (tree_rng.next_u64() % y.len() as u64) as usize;
            let leaf = walk(&f, t, &x[i * 3..i * 3 + 3]);
            assert_eq!(f.probs[leaf * 3 + y[i] as usize], 1.0, "tree {t} row {i}");
        }
    }
}

#[test]
fn walking_trees_together_is_walking_them_one_by_one() {
    let (x, y) = data(300, 5);
    let p = ForestParams {
        trees: 11,
        ..ForestParams::default()
    };
    let f = RandomForest::fit(&x, 3, &y, 3, p).unwrap();
    for row in x.chunks_exact(3) {
        assert_eq!(f.predict_proba(row), walked(&f, row));
    }
    // Values that round to the same f32, NaN, infinities, beyond f32's range.
    let odd = [
        0.3,
        0.3 + 1e-12,
        f64::NAN,
        f64::INFINITY,
        -f64::INFINITY,
        1e300,
    ];
    for a in odd {
        for b in odd {
            let row = [a, b, 0.5];
            assert_eq!(f.predict_proba(&row), walked(&f, &row), "{row:?}");
        }
    }
    assert_eq!(f.predict_proba(&[0.1]), f.predict_proba(&[0.1, 0.0, 0.0]));
}

#[test]
fn thresholds_fall_between_the_values_they_separate() {
    for (a, b) in [
        (0.1f32, 0.2f32),
        (1.0, f32::from_bits(1.0f32.to_bits() + 1)),
        (f32::MIN, f32::MAX),
        (f32::MAX / 2.0, f32::MAX),
        (-0.0, f32::from_bits(1)),
    ] {
        let t = midpoint(a, b);
        assert!(a <= t && t < b && t.is_finite(), "{a} {b} {t}");
    }
    assert_eq!(key(f64::NAN), f32::MAX);
    assert_eq!(key(1e300), f32::MAX);
    assert_eq!(key(f64::NEG_INFINITY), f32::MIN);
}

#[test]
fn same_seed_same_forest_and_the_encoding_round_trips() {
    let (x, y) = data(500, 3);
    let a = RandomForest::fit(&x, 3, &y, 3, ForestParams::default()).unwrap();
    let b = RandomForest::fit(&x, 3, &y, 3, ForestParams::default()).unwrap();
    assert_eq!(a.encode(), b.encode());
    let c = RandomForest::decode(&a.encode()).unwrap();
    assert_eq!(a, c);
    assert_eq!(c.encode(), a.encode());
    let other = ForestParams {
        seed: 2,
        ..ForestParams::default()
    };
    assert_ne!(
        a.encode(),
        RandomForest::fit(&x, 3, &y, 3, other).unwrap().encode()
    );
}

#[test]
fn predictions_survive_the_round_trip_bit_for_bit() {
    let (x, y) = data(1000, 6);
    let f = RandomForest::fit(&x, 3, &y, 3, ForestParams::default()).unwrap();
    let g = RandomForest::decode(&f.encode()).unwrap();
    let (tx, _) = data(500, 7);
    for row in tx.chunks_exact(3) {
        let (p, q) = (f.predict_proba(row), g.predict_proba(row));
        assert_eq!(
            p.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            q.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(f.predict(row), g.predict(row));
    }
}

#[test]
fn bad_input_and_corrupt_payloads_are_refused() {
    let p = ForestParams::default();
    assert!(RandomForest::fit(&[], 3, &[], 3, p).is_err());
    assert!(RandomForest::fit(&[1.0, 2.0], 3, &[0], 3, p).is_err());
    let e = RandomForest::fit(&[1.0, f64::NAN, 0.0], 3, &[0], 3, p).unwrap_err();
    assert!(e.to_string().contains("row 0 feature 1"), "{e}");
    assert!(RandomForest::fit(&[1.0, 2.0, 3.0], 3, &[5], 3, p).is_err());

    let (x, y) = data(200, 4);
    let good = RandomForest::fit(&x, 3, &y, 3, p).unwrap();
    let bytes = good.encode();
    let corrupt = |bytes: &[u8]| match RandomForest::decode(bytes) {
        Err(ModelError::Corrupt(m)) => m,
        other => panic!("{other:?}"),
    };
    let m = corrupt(&bytes[..bytes.len() - 3]);
    assert!(m.contains("probabilities"), "{m}");
    let mut v = bytes.clone();
    v[0] = 1;
    assert!(corrupt(&v).contains("version 1"));

    // Columns edited one way or another, each refused with its reason.
    let edit = |change: &dyn Fn(&mut Columns)| {
        let mut c = good.columns();
        change(&mut c);
        let mut e = Encoder::new();
        e.u32(PAYLOAD_VERSION)
            .u32(3)
            .u32(3)
            .u32s(&c.sizes)
            .u16s(&c.features)
            .f32s(&c.thresholds)
            .u32s(&c.leaf_rows)
            .f32s(&c.probs);
        corrupt(&e.finish())
    };
    let split = good
        .columns()
        .features
        .iter()
        .position(|&f| f != PAYLOAD_LEAF);
    let split = split.unwrap();
    assert!(edit(&|c| c.features[split] = 3).contains("feature 3"));
    assert!(edit(&|c| c.thresholds[0] = f32::INFINITY).contains("threshold inf"));
    assert!(edit(&|c| c.leaf_rows[0] = 1 << 20).contains("outside"));
    assert!(edit(&|c| c.probs[0] = 1.5).contains("not a distribution"));
    assert!(edit(&|c| c.sizes[0] += 2).contains("add up"));
    assert!(edit(&|c| c.sizes.clear()).contains("no trees"));
    assert!(
        edit(&|c| {
            c.thresholds.pop();
        })
        .contains("thresholds")
    );
    // Moving tree 1's first node into tree 0 makes both trees malformed.
    assert!(
        edit(&|c| {
            c.sizes[0] += 1;
            c.sizes[1] -= 1;
        })
        .contains("tree 0")
    );
    // A leaf ahead of the splits whose children would come before it: the root a
    // leaf, then a split (three leaves, one split: sizes match but not the order).
    let m = edit(&|c| {
        let (size0, rest) = (c.sizes[0] as usize, c.sizes[1..].to_vec());
        let f0: Vec<u16> = c.features.drain(..size0).collect();
        let splits0 = f0.iter().filter(|&&f| f != PAYLOAD_LEAF).count();
        let leaves0 = f0.len() - splits0;
        c.thresholds.drain(..splits0);
        c.leaf_rows.drain(..leaves0);
        c.sizes = [3].into_iter().chain(rest).collect();
        for (i, f) in [PAYLOAD_LEAF, 0, PAYLOAD_LEAF].into_iter().enumerate() {
            c.features.insert(i, f);
        }
        c.thresholds.insert(0, 0.5);
        c.leaf_rows.splice(0..0, [0, 0]);
    });
    assert!(m.contains("tree 0 node 1"), "{m}");
}

#[test]
fn every_flipped_byte_is_refused_or_decodes_to_a_walkable_forest() {
    let (x, y) = data(60, 8);
    let p = ForestParams {
        trees: 3,
        max_depth: 4,
        ..ForestParams::default()
    };
    let bytes = RandomForest::fit(&x, 3, &y, 3, p).unwrap().encode();
    let rows = [[0.1, 0.9, 0.5], [f64::NAN, 1e300, -1.0], [0.7, 0.2, 0.0]];
    for i in 0..bytes.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            match RandomForest::decode(&b) {
                Ok(f) => {
                    for row in &rows {
                        let p = f.predict_proba(row);
                        assert!(p.iter().all(|v| v.is_finite()), "byte {i}: {p:?}");
                    }
                }
                Err(ModelError::Corrupt(_)) => {}
                Err(e) => panic!("byte {i}: {e}"),
            }
        }
    }
    for len in 0..bytes.len() {
        assert!(matches!(
            RandomForest::decode(&bytes[..len]),
            Err(ModelError::Corrupt(_))
        ));
    }
}
