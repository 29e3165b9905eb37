//! An independent check of the NPS interval: the golden values transcribe
//! the same formula, so a misreading of Rocks (2016) would pass them. Here
//! the interval is judged by what it promises instead — drawing multinomial
//! samples from known promoter/detractor shares (fixed seed), the 95%
//! adjusted-Wald interval must cover the true NPS about 95% of the time, as
//! Rocks' own simulations report, while a deliberately misread interval
//! (80% of the half-width) must visibly fail the same check.

use northstar_core::estimate;
use northstar_core::{Mergeable, NpsSummary};

const DRAWS: usize = 4_000;

/// Coverage of the true NPS by the interval over `DRAWS` samples of size `n`;
/// `shrink` scales the half-width around the interval's centre (1 = as built).
fn coverage(
    promoters: f64,
    detractors: f64,
    n: usize,
    shrink: f64,
    rng: &mut fastrand::Rng,
) -> f64 {
    let truth = 100.0 * (promoters - detractors);
    let mut covered = 0usize;
    for _ in 0..DRAWS {
        let mut s = NpsSummary::empty();
        for _ in 0..n {
            let u = rng.f64();
            s.add(if u < promoters {
                10
            } else if u < promoters + detractors {
                3
            } else {
                8
            });
        }
        let e = estimate::nps_adjusted_wald(&s);
        // An interval not shown (tiny n) counts as not covering.
        if let (Some(lo), Some(hi)) = (e.ci_low, e.ci_high) {
            let centre = (lo + hi) / 2.0;
            let half = (hi - lo) / 2.0 * shrink;
            if (centre - half..=centre + half).contains(&truth) {
                covered += 1;
            }
        }
    }
    covered as f64 / DRAWS as f64
}

#[test]
fn the_adjusted_wald_interval_covers_the_true_nps_about_95_percent_of_the_time() {
    let mut rng = fastrand::Rng::with_seed(20_161_001);
    for (promoters, detractors, n) in [
        (0.50, 0.20, 30),
        (0.40, 0.30, 100),
        (0.70, 0.05, 50),
        (0.30, 0.45, 400),
    ] {
        let c = coverage(promoters, detractors, n, 1.0, &mut rng);
        eprintln!("p={promoters} d={detractors} n={n}: coverage {c:.4}");
        assert!(
            (0.925..=0.975).contains(&c),
            "coverage {c:.3} for p={promoters}, d={detractors}, n={n}"
        );
        // The check can fail: an interval 20% too narrow covers ~89%.
        let narrow = coverage(promoters, detractors, n, 0.8, &mut rng);
        assert!(narrow < 0.92, "a misread interval passed: {narrow:.3}");
    }
}
