//! Evaluation metrics shared by the trainer and the model validations.

/// Area under the ROC curve of `scores` (higher = more positive) against `labels`
/// (true = positive), by the rank-sum (Mann-Whitney U) identity. Tied scores share
/// their average rank, so a tie between a positive and a negative counts one half.
///
/// None when the lengths differ, when either class is missing, or when a score is NaN
/// (no order to rank by).
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    if scores.len() != labels.len() || scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Sum of the (1-based, tie-averaged) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        // total_cmp tells -0.0 from 0.0; a tie is numeric equality.
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0;
        let tied_pos = order[i..j].iter().filter(|&&k| labels[k]).count();
        rank_sum += avg_rank * tied_pos as f64;
        i = j;
    }
    let (p, n) = (pos as f64, neg as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_inverted_and_random_orders() {
        let labels = [false, false, true, true];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &labels), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &labels), Some(0.0));
        // One of four positive-negative pairs misordered.
        assert_eq!(roc_auc(&[0.1, 0.5, 0.4, 0.9], &labels), Some(0.75));
    }

    #[test]
    fn ties_count_one_half() {
        assert_eq!(roc_auc(&[0.5, 0.5], &[false, true]), Some(0.5));
        assert_eq!(
            roc_auc(&[1.0; 6], &[true, false, true, false, false, true]),
            Some(0.5)
        );
        // Pairs: (p=0.7 vs n=0.3) 1, (p=0.7 vs n=0.7) 0.5, (p=0.3 vs n=0.3) 0.5,
        // (p=0.3 vs n=0.7) 0 -> 2 / 4.
        assert_eq!(
            roc_auc(&[0.7, 0.3, 0.3, 0.7], &[true, false, true, false]),
            Some(0.5)
        );
        assert_eq!(roc_auc(&[0.0, -0.0, 1.0], &[true, false, true]), Some(0.75));
    }

    #[test]
    fn agrees_with_counting_pairs() {
        let mut rng = qb_signals::rng::Rng::new(3);
        let scores: Vec<f64> = (0..300).map(|_| (rng.unit() * 20.0).floor()).collect();
        let labels: Vec<bool> = (0..300).map(|_| rng.unit() < 0.3).collect();
        let mut wins = 0.0;
        let mut pairs = 0.0;
        for (i, &li) in labels.iter().enumerate() {
            for (j, &lj) in labels.iter().enumerate() {
                if li && !lj {
                    pairs += 1.0;
                    if scores[i] > scores[j] {
                        wins += 1.0;
                    } else if scores[i] == scores[j] {
                        wins += 0.5;
                    }
                }
            }
        }
        let auc = roc_auc(&scores, &labels).unwrap();
        assert!((auc - wins / pairs).abs() < 1e-12, "{auc} {}", wins / pairs);
    }

    #[test]
    fn undefined_cases_are_none() {
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
        assert_eq!(roc_auc(&[0.1, 0.2], &[false, false]), None);
        assert_eq!(roc_auc(&[], &[]), None);
        assert_eq!(roc_auc(&[0.1], &[true, false]), None);
        assert_eq!(roc_auc(&[f64::NAN, 0.2], &[true, false]), None);
    }
}
