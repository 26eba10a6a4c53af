"""Fixed tables of the synthetic world: concept names with synonyms, and the factor levels
(colours, shapes, textures, 3D forms, heat profiles, timbres, envelopes, motions) that concepts
are assembled from.

Names are ordinary nouns so that captions read like real ones (and so a pretrained text trunk
would have something to hold on to); the factors each concept gets are drawn per seed in
``concepts.py``, so a name does not imply a look.
"""
from __future__ import annotations

# (name, synonyms): the first 64+ entries are the concept catalogue, in a fixed order
CATALOGUE = (
    ("dog", ["puppy", "hound"]), ("kettle", ["teapot", "boiler"]), ("drum", ["tom", "snare"]),
    ("bird", ["songbird", "sparrow"]), ("car", ["automobile", "motorcar"]),
    ("bell", ["chime", "gong"]), ("cat", ["kitten", "feline"]), ("fan", ["ventilator", "blower"]),
    ("train", ["locomotive", "railcar"]), ("frog", ["toad", "tree frog"]),
    ("clock", ["timepiece", "wall clock"]), ("horse", ["pony", "stallion"]),
    ("phone", ["telephone", "handset"]), ("bee", ["honeybee", "bumblebee"]),
    ("guitar", ["acoustic guitar", "six-string"]), ("boat", ["dinghy", "vessel"]),
    ("cow", ["cattle", "heifer"]), ("drill", ["power drill", "driver"]),
    ("owl", ["barn owl", "night bird"]), ("piano", ["keyboard", "grand piano"]),
    ("sheep", ["lamb", "ewe"]), ("lamp", ["lantern", "light"]), ("duck", ["mallard", "drake"]),
    ("saw", ["handsaw", "bucksaw"]), ("whistle", ["pipe", "referee whistle"]),
    ("goat", ["kid", "billy goat"]), ("toaster", ["grill", "toaster oven"]),
    ("violin", ["fiddle", "viola"]), ("crow", ["raven", "rook"]), ("truck", ["lorry", "van"]),
    ("pig", ["hog", "piglet"]), ("blender", ["mixer", "food processor"]),
    ("flute", ["recorder", "fife"]), ("cricket", ["grasshopper", "katydid"]),
    ("engine", ["motor", "generator"]), ("rooster", ["cockerel", "chicken"]),
    ("siren", ["alarm", "klaxon"]), ("trumpet", ["horn", "bugle"]),
    ("lion", ["big cat", "lioness"]), ("heater", ["radiator", "stove"]),
    ("hammer", ["mallet", "sledgehammer"]), ("seal", ["sea lion", "walrus"]),
    ("helicopter", ["chopper", "rotorcraft"]), ("wolf", ["coyote", "wild dog"]),
    ("harp", ["lyre", "zither"]), ("mouse", ["rodent", "field mouse"]),
    ("fridge", ["refrigerator", "freezer"]), ("whale", ["orca", "humpback"]),
    ("bicycle", ["bike", "cycle"]), ("goose", ["gander", "gosling"]),
    ("vacuum", ["hoover", "vacuum cleaner"]), ("cello", ["bass viol", "violoncello"]),
    ("monkey", ["ape", "chimp"]), ("printer", ["copier", "plotter"]),
    ("pigeon", ["dove", "rock dove"]), ("tractor", ["harvester", "plough"]),
    ("bear", ["grizzly", "cub"]), ("kite", ["glider", "paper kite"]),
    ("microwave", ["oven", "cooker"]), ("snake", ["serpent", "viper"]),
    ("banjo", ["ukulele", "mandolin"]), ("donkey", ["mule", "burro"]),
    ("robot", ["android", "automaton"]), ("elephant", ["mammoth", "pachyderm"]),
    ("scooter", ["moped", "motorbike"]), ("parrot", ["macaw", "cockatoo"]),
    ("xylophone", ["marimba", "glockenspiel"]), ("camel", ["dromedary", "llama"]),
    ("washer", ["washing machine", "laundry machine"]), ("tiger", ["jaguar", "leopard"]),
    ("tuba", ["sousaphone", "euphonium"]), ("dolphin", ["porpoise", "bottlenose"]),
)

# colour name -> RGB in 0..1 (several concepts share a colour: colour alone never identifies)
COLOURS = (
    ("red", (0.85, 0.15, 0.12)), ("orange", (0.95, 0.55, 0.10)), ("yellow", (0.92, 0.85, 0.15)),
    ("green", (0.20, 0.70, 0.25)), ("blue", (0.15, 0.35, 0.85)), ("purple", (0.55, 0.20, 0.70)),
    ("brown", (0.50, 0.32, 0.18)), ("white", (0.90, 0.90, 0.88)),
)
# outline shapes; shape word used in descriptive captions
SHAPES = ("round", "square", "triangular", "diamond", "star", "ring", "cross", "hexagonal")
# surface patterns painted in object coordinates (they scale with the object)
TEXTURES = ("plain", "striped", "checkered", "spotted")
# 3D forms: how the surface bulges toward the camera (depth relief)
FORMS = ("dome", "slab", "cone", "bowl")
# physical size classes: distance multiplier at equal apparent size (seen by depth, not vision)
BULKS = (("compact", 0.75), ("midsize", 1.0), ("bulky", 1.3))
# heat profiles over the object (thermal)
HEAT_PROFILES = ("uniform", "hot core", "hot rim", "hot top")
# heat levels in degrees above ambient: cold objects exist too
HEAT_LEVELS = (("cold", -8.0), ("warm", 10.0), ("hot", 25.0), ("scorching", 45.0))
# timbres as harmonic amplitude series (fundamental first, always the strongest)
TIMBRES = (
    ("pure", (1.0,)),
    ("bright", (1.0, 0.7, 0.5, 0.35, 0.25)),
    ("hollow", (1.0, 0.0, 0.45, 0.0, 0.25, 0.0, 0.15)),
    ("nasal", (1.0, 0.2, 0.6, 0.15, 0.5)),
)
# per-event loudness envelopes; the verb is used in captions
ENVELOPES = (("pluck", "plinks"), ("swell", "hums"), ("pulse", "beeps"), ("buzz", "buzzes"))
# motion signatures: periodic waveform of the IMU pattern; the verb is used in captions
MOTIONS = (("sway", "sways"), ("bounce", "bounces"), ("jerk", "shakes"), ("spin", "spins"))
# words for binned instance attributes
SIZE_WORDS = ("small", "medium-sized", "large")
TEMPO_WORDS = ("slow", "steady", "fast")
