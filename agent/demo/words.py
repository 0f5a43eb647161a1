"""Word lists the generated population is drawn from (made up, no Faker needed).

The named demo people's surnames are deliberately absent, so no generated person is a
look-alike by accident: every look-alike in the estate is a documented cast member.
"""

from __future__ import annotations

FIRST_NAMES: tuple[str, ...] = (
    "Aaron", "Abigail", "Adam", "Aisha", "Alex", "Alfie", "Amir", "Amy", "Andrew", "Anna",
    "Ben", "Beth", "Bilal", "Carla", "Callum", "Charlotte", "Chloe", "Chris", "Claire",
    "Connor", "Craig", "Dan", "Deepa", "Dylan", "Eleanor", "Elliot", "Emily", "Emma", "Erin",
    "Faisal", "Fiona", "Freya", "Gareth", "Gemma", "George", "Hamza", "Harriet", "Harry",
    "Holly", "Ian", "Isla", "Jack", "Jade", "James", "Jasmine", "Jenna", "Joe", "Jordan",
    "Karen", "Kieran", "Laura", "Leah", "Liam", "Lucy", "Luke", "Mark", "Martin", "Megan",
    "Mia", "Mohammed", "Naomi", "Neil", "Niamh", "Oliver", "Olivia", "Paul", "Rachel",
    "Rhys", "Rory", "Ruth", "Ryan", "Saima", "Sam", "Sean", "Sophie", "Stuart", "Tariq",
    "Tessa", "Usman", "Victoria", "Wendy", "Yasmin", "Zoe",
)

SURNAMES: tuple[str, ...] = (
    "Abbott", "Ahmed", "Ali", "Armstrong", "Atkinson", "Bailey", "Barker", "Bell", "Bennett",
    "Brennan", "Brooks", "Burton", "Carter", "Chapman", "Clarke", "Collins", "Cooper", "Cox",
    "Dawson", "Dixon", "Doyle", "Edwards", "Ellis", "Evans", "Fletcher", "Foster", "Gallagher",
    "Gill", "Graham", "Grant", "Hall", "Harper", "Hughes", "Hussain", "Jackson", "Jenkins",
    "Kaur", "Kelly", "Khan", "Lawson", "Lloyd", "Lynch", "McDonald", "Marshall", "Mason",
    "Morgan", "Murphy", "Nolan", "Norris", "Owen", "Palmer", "Parry", "Patel", "Pearson",
    "Price", "Quinn", "Reid", "Reynolds", "Richards", "Rowe", "Shaw", "Singh", "Stevens",
    "Sutton", "Taylor", "Thornton", "Turner", "Walsh", "Ward", "Watson", "Webb", "Wells",
    "Whitehead", "Wilkinson", "Wright", "Young",
)

TRADES: tuple[str, ...] = (
    "Plumbing", "Electrical", "Joinery", "Roofing", "Landscapes", "Bakery", "Cafe",
    "Hair Studio", "Dental Care", "Accountancy", "Logistics", "Print", "Motors", "Cleaning",
    "Lettings", "Catering", "Fitness", "Physio", "Veterinary", "Opticians", "Florist",
    "Builders", "Design", "Consulting", "Engineering", "Carpets", "Pharmacy", "Removals",
)

STREETS: tuple[str, ...] = (
    "High Street", "Station Road", "Church Lane", "Mill Lane", "Victoria Road", "Park Road",
    "Queen Street", "King Street", "Market Place", "New Road", "Chapel Street", "The Green",
    "Bridge Street", "Albert Road", "North Street", "London Road", "School Lane", "Elm Grove",
    "Castle Street", "Trinity Road", "Orchard Way", "Brunswick Terrace", "Canal Side",
)

# (town, outward codes): real districts, random inward codes — a postcode alone names no one.
TOWNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Leeds", ("LS1", "LS2", "LS7", "LS11", "LS12")),
    ("Manchester", ("M1", "M4", "M14", "M20")),
    ("Bristol", ("BS2", "BS3", "BS5", "BS7")),
    ("Birmingham", ("B5", "B13", "B15", "B29")),
    ("Sheffield", ("S1", "S7", "S10", "S11")),
    ("Nottingham", ("NG1", "NG5", "NG7")),
    ("Cardiff", ("CF10", "CF11", "CF24")),
    ("Glasgow", ("G1", "G3", "G12", "G41")),
    ("Newcastle upon Tyne", ("NE1", "NE2", "NE6")),
    ("Norwich", ("NR1", "NR2", "NR3")),
    ("Exeter", ("EX1", "EX2", "EX4")),
    ("Reading", ("RG1", "RG2", "RG30")),
    ("Leicester", ("LE1", "LE2", "LE3")),
    ("Brighton", ("BN1", "BN2", "BN3")),
    ("Liverpool", ("L1", "L8", "L15", "L17")),
)

# Letters a UK inward code may end in.
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

JOB_TITLES: tuple[str, ...] = (
    "Director", "Managing Director", "Office Manager", "Finance Manager", "Operations Manager",
    "Practice Manager", "Bookkeeper", "Procurement Lead", "Facilities Manager", "Partner",
    "IT Manager", "Administrator",
)

SUPPLIERS: dict[str, tuple[str, ...]] = {
    "mobile": ("Vodafone", "EE", "O2", "Three"),
    "fixed": ("BT Wholesale", "TalkTalk Business", "Gamma", "Virgin Media Business"),
    "energy": ("British Gas Business", "EDF", "E.ON Next", "Octopus Energy for Business"),
}

# (model, 8-digit type allocation code) — the first half of an IMEI.
DEVICE_MODELS: tuple[tuple[str, str], ...] = (
    ("Apple iPhone 15", "35094733"), ("Apple iPhone 14", "35328415"),
    ("Samsung Galaxy S24", "35167260"), ("Samsung Galaxy A54", "35265912"),
    ("Google Pixel 8", "35852761"), ("Nokia G42", "35440817"),
)

CREDIT_AGENCIES: tuple[str, ...] = ("Experian", "Equifax", "TransUnion")

MARKETING_CHANNELS: tuple[str, ...] = ("email", "sms", "phone", "post")

PROSPECT_SOURCES: tuple[str, ...] = (
    "Purchased list: SME Decision Makers 2024", "Purchased list: Trades Directory Q3",
    "Web enquiry form", "Trade show: Business Expo Birmingham", "Referral partner upload",
)

TICKET_SUBJECTS: tuple[str, ...] = (
    "No signal on mobile", "Broadband dropping out", "Query on latest invoice",
    "Meter reading dispute", "Number port request", "Change of billing address",
    "Handset replacement", "Contract renewal quote", "Direct debit failed",
)

USER_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Safari/17.4",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/124.0 Mobile",
)
