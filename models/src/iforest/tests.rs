use super::*;

/// A 2-D standard Gaussian blob, row-major.
fn blob(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    (0..2 * n).map(|_| rng.normal()).collect()
}

fn params(seed: u64) -> IForestParams {
    IForestParams {
        seed,
        ..IForestParams::default()
    }
}

#[test]
fn normaliser_and_height_limit_match_the_paper() {
    assert_eq!(c(1), 0.0);
    assert_eq!(c(2), 1.0);
    // 2 (ln 255 + gamma) - 2 * 255 / 256
    assert!((c(256) - 10.244_770_920_116_851).abs() < 1e-9, "{}", c(256));
    assert_eq!(height_limit(256), 8);
    assert_eq!(height_limit(257), 9);
    assert_eq!(height_limit(255), 8);
    assert_eq!(height_limit(2), 1);
}

#[test]
fn same_seed_same_bytes_other_seed_other_forest() {
    let data = blob(1000, 1);
    let a = IsolationForest::fit(&data, 2, params(7)).unwrap();
    let b = IsolationForest::fit(&data, 2, params(7)).unwrap();
    let c = IsolationForest::fit(&data, 2, params(8)).unwrap();
    assert_eq!(a.encode(), b.encode());
    assert_ne!(a.encode(), c.encode());
    assert_eq!(a.trees(), 100);
    assert_eq!(a.subsample(), 256);
}

#[test]
fn an_outlier_scores_above_one_half_and_inliers_below() {
    let data = blob(2000, 2);
    let f = IsolationForest::fit(&data, 2, params(3)).unwrap();
    let far = f.score(&[6.0, -6.0]);
    assert!(far > 0.5, "outlier scored {far}");
    let centre = f.score(&[0.0, 0.0]);
    assert!(centre < 0.5, "centre scored {centre}");
    let inliers: Vec<f64> = data[..400].chunks(2).map(|r| f.score(r)).collect();
    let mean = inliers.iter().sum::<f64>() / inliers.len() as f64;
    assert!(mean < 0.5, "inliers averaged {mean}");
    assert!(inliers.iter().all(|&s| s > 0.0 && s < 1.0));
    assert!(far > inliers.iter().cloned().fold(0.0, f64::max));
}

#[test]
fn every_tree_partitions_its_whole_subsample() {
    // 300 rows, subsample 256: each tree's leaves hold exactly 256 distinct rows.
    let data = blob(300, 4);
    let f = IsolationForest::fit(&data, 2, params(5)).unwrap();
    for t in 0..f.trees() {
        let start = f.roots[t] as usize;
        let end = f.roots.get(t + 1).map_or(f.nodes.len(), |&r| r as usize);
        let sizes: u32 = f.nodes[start..end]
            .iter()
            .filter(|n| n.feature == LEAF)
            .map(|n| n.next)
            .sum();
        assert_eq!(sizes, 256, "tree {t}");
    }
    // Fewer rows than the subsample: psi is clipped to the data.
    let small = IsolationForest::fit(&data[..40], 2, params(5)).unwrap();
    assert_eq!(small.subsample(), 20);
}

#[test]
fn constant_data_makes_single_leaf_trees_scoring_one_half() {
    let data = vec![3.0; 2 * 50];
    let f = IsolationForest::fit(&data, 2, params(1)).unwrap();
    assert_eq!(f.node_count(), f.trees());
    assert!((f.score(&[3.0, 3.0]) - 0.5).abs() < 1e-12);
    assert!((f.score(&[-100.0, 9.0]) - 0.5).abs() < 1e-12);
}

#[test]
fn rows_and_flat_input_agree_and_bad_input_names_row_and_column() {
    let data = blob(300, 6);
    let rows: Vec<&[f64]> = data.chunks(2).collect();
    let a = IsolationForest::fit_rows(&rows, params(1)).unwrap();
    let b = IsolationForest::fit(&data, 2, params(1)).unwrap();
    assert_eq!(a, b);

    let err = |r: Result<IsolationForest, ModelError>| r.unwrap_err().to_string();
    let mut bad = data.clone();
    bad[2 * 7 + 1] = f64::NAN;
    let e = err(IsolationForest::fit(&bad, 2, params(1)));
    assert!(e.contains("row 7, column 1 is NaN"), "{e}");
    bad[2 * 7 + 1] = f64::NEG_INFINITY;
    let e = err(IsolationForest::fit(&bad, 2, params(1)));
    assert!(e.contains("row 7, column 1 is -inf"), "{e}");

    let uneven: Vec<&[f64]> = vec![&[1.0, 2.0], &[1.0, 2.0], &[1.0]];
    let e = err(IsolationForest::fit_rows(&uneven, params(1)));
    assert!(e.contains("row 2 has 1 values"), "{e}");
    let e = err(IsolationForest::fit(&data[..5], 2, params(1)));
    assert!(e.contains("whole number of rows"), "{e}");
    let e = err(IsolationForest::fit_rows(&[], params(1)));
    assert!(e.contains("no rows"), "{e}");
    let e = err(IsolationForest::fit(&[], 2, params(1)));
    assert!(e.contains("at least 2 rows"), "{e}");
    let e = err(IsolationForest::fit(&data, 0, params(1)));
    assert!(e.contains("rows of 0 columns"), "{e}");
    let tiny = IForestParams {
        subsample: 1,
        ..params(1)
    };
    let e = err(IsolationForest::fit(&data, 2, tiny));
    assert!(e.contains("subsample 1 is below 2"), "{e}");
    let none = IForestParams {
        trees: 0,
        ..params(1)
    };
    assert!(IsolationForest::fit(&data, 2, none).is_err());
}

#[test]
fn scoring_checks_width_where_asked() {
    let f = IsolationForest::fit(&blob(300, 8), 2, params(1)).unwrap();
    assert!(f.score(&[1.0]).is_nan());
    assert!(
        f.try_score(&[1.0])
            .unwrap_err()
            .to_string()
            .contains("1 values")
    );
    let e = f.try_score(&[1.0, f64::INFINITY]).unwrap_err().to_string();
    assert!(e.contains("column 1 is inf"), "{e}");
    assert_eq!(f.try_score(&[0.5, 0.5]).unwrap(), f.score(&[0.5, 0.5]));
}

#[test]
fn decode_of_encode_scores_identically() {
    let data = blob(1500, 9);
    let f = IsolationForest::fit(&data, 2, params(2)).unwrap();
    let g = IsolationForest::decode(&f.encode()).unwrap();
    assert_eq!(f, g);
    for r in data.chunks(2).take(200) {
        assert_eq!(f.score(r).to_bits(), g.score(r).to_bits());
    }
    assert_eq!(g.encode(), f.encode());
}

#[test]
fn corrupt_payloads_are_refused_with_the_reason() {
    let f = IsolationForest::fit(&blob(500, 10), 2, params(3)).unwrap();
    let split = f.nodes.iter().position(|n| n.feature != LEAF).unwrap();
    let leaf = f.nodes.iter().position(|n| n.feature == LEAF).unwrap();
    let refuse = |g: &IsolationForest, needle: &str| {
        let e = IsolationForest::decode(&g.encode())
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{needle}: {e}");
    };
    let mut g = f.clone();
    g.nodes[split].next = 10_000_000;
    refuse(&g, "outside");
    let mut g = f.clone();
    // Pointing back at the parent would be a cycle.
    g.nodes[split].next = split as u32;
    refuse(&g, "outside");
    let mut g = f.clone();
    g.nodes[split].feature = 2;
    refuse(&g, "feature 2, the model has 2");
    let mut g = f.clone();
    g.nodes[split].value = f64::NAN;
    refuse(&g, "threshold NaN");
    let mut g = f.clone();
    g.nodes[leaf].next = 0;
    refuse(&g, "size 0");
    let mut g = f.clone();
    g.roots[1] = g.roots[0];
    refuse(&g, "tree 0 spans");
    let mut g = f.clone();
    // Both children of the root now also claimed by its left child.
    g.nodes[1].feature = 0;
    g.nodes[1].next = f.nodes[0].next;
    refuse(&g, "outside");
    let mut g = f.clone();
    let right = f.nodes[0].next as usize + 1;
    g.nodes[1] = Node {
        value: 0.0,
        feature: 0,
        next: right as u32,
    };
    refuse(&g, "two parents");

    let bytes = f.encode();
    for cut in [0, 3, 12, bytes.len() / 2, bytes.len() - 1] {
        let e = IsolationForest::decode(&bytes[..cut])
            .unwrap_err()
            .to_string();
        // Either a field is cut short or an array claims more than is left.
        let named = e.contains("payload ends inside") || e.contains("claims");
        assert!(named && e.starts_with("corrupt model"), "cut {cut}: {e}");
    }
    let mut v = bytes.clone();
    v[0] = 9;
    let e = IsolationForest::decode(&v).unwrap_err().to_string();
    assert!(e.contains("version 9"), "{e}");
    let mut v = bytes;
    v.push(0);
    assert!(IsolationForest::decode(&v).is_err());
}
