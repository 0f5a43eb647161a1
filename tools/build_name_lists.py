"""Regenerate agent/data/names/*.txt (the person-name lexicon) from public-domain data.

Source: the US Census Bureau's 1990 name frequency lists (public domain: a work of the US
federal government), as redistributed in the sdist of the PyPI package ``names`` 0.3.0
(files names/dist.male.first, names/dist.female.first, names/dist.all.last; the package's
README states these files are public domain). Fetch it and run:

    pip download names==0.3.0 --no-deps --no-binary :all: -d /tmp/names
    python tools/build_name_lists.py /tmp/names/names-0.3.0.tar.gz

Output, one lower-case name a line, sorted, ASCII (apostrophes dropped: O'Brien is obrien):
- given.txt: every census first name (male and female, ~5k), minus the entries in DROP
  (census noise and function words), plus UK_GIVEN;
- surnames.txt: the SURNAMES most frequent census surnames, plus UK_SURNAMES;
- given_ambiguous.txt: the given names in AMBIGUOUS_GIVEN that are also everyday words,
  months or places ("will", "may", "grant", "paris"): agent.names matches them only
  capitalised and with context (a title, or a listed surname after them), never alone.

UK_GIVEN and UK_SURNAMES are short lists written by hand by the dsr-agent developers, from
general knowledge of names common in the UK (Welsh, Scottish, Irish, South Asian, West
African and Polish names the 1990 US lists miss); they are not taken from a data set.
The script is deterministic: the same sdist gives byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tarfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "agent" / "data" / "names"
SDIST_SHA256 = "726e46254f2ed03f1ffb5d941dae3bc67c35123941c29becd02d48d0caa2a671"
SURNAMES = 30_000  # ~82% of the 1990 US population's surnames; the tail is mostly noise

HEADER = ("# {name}: {what}\n"
          "# Source: US Census 1990 name lists (public domain), via the PyPI sdist names==0.3.0,\n"
          "# plus a short hand-written list of common UK names. Regenerate with\n"
          "# tools/build_name_lists.py; do not edit by hand.\n")

def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# census entries that are noise or function words, not names anyone writes capitalised
DROP = _words("""
an in my so see ok un yer wm jc robt eliz miss many manual numbers brain angle marry
else lean carry era loan
""")

# given names that are also everyday words, months, days or places
AMBIGUOUS_GIVEN = _words("""
will may mark rose bill grant april june august january september sunday easter season
summer winter autumn spring hope faith joy grace dawn charity chastity patience prudence
mercy honey ivy holly amber ruby pearl crystal jade jewel diamond coral hazel olive violet
iris lily daisy fern heather myrtle magnolia willow sage ginger candy cherry berry brandy
sherry tequila jack don ray gene bob pat sue carol frank earl guy rich sterling major
chase hunter miles wade dale glen cliff rod art buck bud chance clay cole drew forest gay
gale golden harmony heath lane love melody merry misty penny piper rocky royal rusty sandy
star starr stormy sunny sunshine tad van von ward young long king queen prince princess
lady junior noble precious destiny trinity genesis liberty glory echo omega alpha delta
china india america asia argentina florida nevada maryland venice paris sydney dallas
houston denver cleveland columbus raleigh austin lincoln chester kent georgia virginia
carolina devon madison phoenix brooklyn dusty windy tiny moon sun song son sang man dong
dung hang hung see page temple marine marvel maple velvet sparkle fairy bee bell belle
carry lou ma pa ha hai al bo dot nova sol yen tip skip chip norm reed
""")

UK_GIVEN = _words("""
alfie ollie finley finlay callum kieran ciaran declan niall liam conor connor rhys aled
dafydd gareth geraint iwan ieuan owain gethin emrys bryn sian sioned carys cerys ffion
bethan rhian seren eira catrin niamh aoife saoirse orla orlaith roisin grainne sinead
caoimhe eilidh isla ailsa morag mhairi kirsty hamish angus alasdair alistair alastair
euan ewan fraser lachlan ruairidh struan torquil iain gregor poppy imogen freya darcey
esme jemima hermione tamsin giles piers crispin barnaby albie louie jenson zac zak
muhammad hussain imran irfan zain ayaan aarav arjun rohan priya anjali sunita rajesh
sanjay amit deepak pooja harpreet gurpreet manpreet jaspreet simran sukhwinder baljit
kuldip amrit zara zainab kwame kofi ama abena chidi chinedu ngozi adebayo olumide tunde
femi yemi kemi tomasz piotr krzysztof agnieszka katarzyna malgorzata
""")

UK_SURNAMES = _words("""
davies griffiths rees pugh jenkins probert pryce vaughan llewellyn bevan bowen gwynne
humphreys macdonald mackenzie mackay maclean macleod mcdonald mcgregor macgregor mclean
mcleod mcintyre mckenzie fraser cameron campbell stewart murray robertson sutherland munro
cunningham ferguson buchanan drummond urquhart farquharson menzies dalziel lamont baird
crawford dunbar kerr obrien oconnor oneill osullivan oreilly odonnell ocallaghan omahony
mccarthy murphy kelly walsh byrne doyle nolan kavanagh quinn mcgrath keane brennan
flanagan fitzgerald maguire gallagher donnelly mulholland ashworth barraclough bottomley
brierley clegg crowther hargreaves haworth holroyd illingworth pickles sutcliffe whiteley
wainwright ackroyd greenhalgh entwistle higginbottom heseltine patel shah khan ahmed
hussain ali begum akhtar iqbal rahman islam uddin miah mahmood chaudhry choudhury sharma
singh kaur gill sandhu dhillon sidhu bains mistry parmar chauhan solanki joshi desai mehta
kapoor malik qureshi bibi mensah boateng owusu adeyemi okonkwo nwosu eze obi ogunleye
nowak kowalski wisniewski wojcik kaminski lewandowski zielinski szymanski kozlowski mazur
""")


def _column(text: str, limit: int | None = None) -> list[str]:
    """First column of a census file, lower case, in frequency order."""
    names = [line.split()[0].lower() for line in text.splitlines() if line.strip()]
    return names[:limit] if limit else names


def _write(name: str, what: str, names: set[str]) -> int:
    body = "".join(f"{n}\n" for n in sorted(names))
    (OUT / name).write_text(HEADER.format(name=name, what=what) + body, encoding="ascii")
    return len(names)


def build(sdist: Path) -> dict[str, int]:
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise SystemExit(f"{sdist.name}: sha256 {digest} is not names 0.3.0's sdist")
    files: dict[str, str] = {}
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive.getmembers():
            leaf = member.name.rsplit("/", 1)[-1]
            if leaf in ("dist.male.first", "dist.female.first", "dist.all.last"):
                handle = archive.extractfile(member)
                assert handle is not None
                files[leaf] = handle.read().decode("ascii")
    given = set(_column(files["dist.male.first"]) + _column(files["dist.female.first"]))
    given = (given - DROP) | UK_GIVEN
    surnames = set(_column(files["dist.all.last"], SURNAMES)) | UK_SURNAMES
    OUT.mkdir(parents=True, exist_ok=True)
    return {
        "given": _write("given.txt", "given names", given),
        "surnames": _write("surnames.txt", "surnames", surnames),
        "given_ambiguous": _write(
            "given_ambiguous.txt",
            "given names that are also everyday words, months or places (matched only "
            "with context)", given & AMBIGUOUS_GIVEN),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sdist", type=Path, help="names-0.3.0.tar.gz (pip download names==0.3.0)")
    counts = build(parser.parse_args(argv).sdist)
    print(", ".join(f"{k}: {v}" for k, v in counts.items()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
