"""Dutch first names and surnames (with tussenvoegsels), most common first."""

FIRST_NAMES_M = [
    "Noah", "Sem", "Liam", "Lucas", "Daan", "Finn", "Levi", "Luuk", "Mees", "James", "Milan", "Sam", "Noud",
    "Bram", "Luca", "Jesse", "Thijs", "Adam", "Max", "Mohammed", "Hugo", "Jens", "Thomas", "Ruben", "Lars",
    "Julian", "Tim", "Stijn", "Siem", "Teun", "Boaz", "Gijs", "Jayden", "Ties", "Olivier", "Morris", "Floris",
    "Guus", "Dex", "Owen", "Jurre", "Mats", "Hidde", "Niek", "Tobias", "Jan", "Pieter", "Koen", "Joep", "Ravi",
]
FIRST_NAMES_F = [
    "Emma", "Julia", "Mila", "Tess", "Sophie", "Zoë", "Sara", "Nora", "Yara", "Eva", "Liv", "Lotte", "Evi",
    "Noor", "Anna", "Milou", "Olivia", "Saar", "Lauren", "Nina", "Fleur", "Lieke", "Fenna", "Isa", "Elin",
    "Roos", "Lina", "Jasmijn", "Sarah", "Femke", "Esmée", "Lisa", "Maud", "Vera", "Fay", "Loïs", "Hanna",
    "Amira", "Ivy", "Lynn", "Floor", "Romy", "Sanne", "Britt", "Iris", "Merel", "Ilse", "Elif", "Aya", "Noa",
]
SURNAMES = [
    "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser", "Smit",
    "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker",
    "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf", "van der Meer", "van der Linden", "Kok", "Jacobs",
    "de Haan", "Vermeulen", "van den Heuvel", "van der Veen", "van den Broek", "de Bruijn", "de Bruin",
    "van der Heijden", "Schouten", "van Beek", "Willems", "van Vliet", "van de Ven", "Hoekstra", "Maas",
    "Verhoeven", "Koster", "van Dam", "van der Wal", "Prins", "Blom", "Huisman", "Peeters", "de Jonge",
    "Kuipers", "van Veen", "Post", "Kuiper", "Veenstra", "Kramer", "van den Brink", "Scholten", "van Wijk",
    "Postma", "Martens", "Vink", "de Ruiter", "Timmermans", "Groen", "Gerritsen", "Jonker", "van Loon",
    "Boer", "van der Velde", "Willemsen", "Smeets", "de Lange", "de Vos", "Bosch", "van Dongen", "Schipper",
    "de Koning", "van der Laan", "Koning", "van der Velden", "Driessen", "van Doorn", "Hermans", "Evers",
    "van den Bosch", "van der Meulen", "Hofman", "Bosman", "Wolters", "Sanders", "van der Horst", "Mertens",
    "Kaya", "Yilmaz", "El Amrani", "Bouzid", "Öztürk", "ter Horst", "Nijland", "Oosterhof", "Veldkamp",
    "Klein Koerkamp", "ten Brinke", "Lubbers", "Wessels", "Kamphuis", "Slot", "Brink-Kuipers",
]
