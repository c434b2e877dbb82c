import pytest

from lpm_kg.symbols import (Perturbation, context_symbol, format_dose, normalize_compound, parse_dose,
                            parse_perturbation, readout_symbol)


def test_symbols_follow_the_model_spec():
    assert Perturbation.genetic("crispri", "STAT1").symbol == "CRISPRi_STAT1"
    assert Perturbation.genetic("CRISPR-KO", "STAT1").symbol == "CRISPR-KO_STAT1"
    assert Perturbation.chemical("Vemurafenib", 10.0, "µM").symbol == "vemurafenib-10uM"
    assert Perturbation.control().symbol == "Control"
    assert context_symbol("L1000", "a375", "CMP") == "L1000_A375_CMP"
    assert readout_symbol("PSMA1") == "Transcriptome_PSMA1"


def test_combination_is_order_free_and_drops_control():
    a, b = Perturbation.genetic("CRISPRa", "CBL"), Perturbation.genetic("CRISPRa", "CNN1")
    assert Perturbation.combination([b, a]).symbol == Perturbation.combination([a, b]).symbol == "CRISPRa_CBL+CRISPRa_CNN1"
    assert Perturbation.combination([a, Perturbation.control()]).symbol == "CRISPRa_CBL"


def test_dose_parsing_and_formatting():
    assert parse_dose("10 µM") == (10.0, "uM")
    assert parse_dose("-666") is None
    assert format_dose(0.37, "um") == "0.37uM" and format_dose(3.33333, "uM") == "3.33uM"
    with pytest.raises(ValueError, match="cannot read dose"):
        parse_dose("ten")


def test_compound_names_keep_chemistry_and_drop_codes_and_salts():
    assert normalize_compound("Trametinib (GSK1120212)") == ("trametinib", ["gsk1120212"])
    assert normalize_compound("Quisinostat (JNJ-26481585) 2HCl")[0] == "quisinostat"
    name = "5-(9-Isopropyl-8-methyl-2-morpholino-9H-purin-6-yl)pyrimidin-2-amine"
    assert normalize_compound(name)[0] == name.lower()


def test_parse_perturbation_round_trips_symbols():
    genes = {"STAT1": "STAT1", "IRF1": "IRF1"}
    for text in ("CRISPRi_STAT1", "vemurafenib-10uM", "Control", "CRISPRi_IRF1+CRISPRi_STAT1"):
        assert parse_perturbation(text, genes.__getitem__).symbol == text
    assert parse_perturbation("non-targeting", genes.__getitem__).kind == "control"
