"""What a run hands the user: summary, plots, the HTML report, export and predict."""
